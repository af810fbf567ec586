//! A minimal H.265/HEVC keyframe encoder for the simulator's H.265 cameras: the picture is sent
//! losslessly as PCM coding units, so any conforming decoder (FFmpeg, GStreamer, a camera
//! platform) reproduces the simulator's pixels exactly.
//!
//! Why hand-written: crates.io has H.265 *decoders* and bindings to C encoders (x265, which needs
//! the C library at build time), but no pure-Rust encoder; the simulator only needs a valid
//! intra picture, not compression. HEVC has no CAVLC: slice data is always CABAC-coded, so the
//! design keeps the arithmetic coder trivial instead of implementing context modelling:
//!
//! - 32×32 coding tree blocks, each its own slice (CABAC contexts start fresh in every slice);
//! - each CTB is one 32×32 intra coding unit coded as PCM: per slice the only context-coded bin
//!   is `split_cu_flag = 0`, encoded from the freshly initialised state (pStateIdx 0, MPS 0 for
//!   initValue 139 at QP 26), so the probability tables shrink to one row; `pcm_flag` and
//!   `end_of_slice_segment_flag` are terminating bins (flush, then raw bytes);
//! - no SAO, no deblocking, no loop filter across PCM; the picture height is padded to a
//!   multiple of 32 and cropped back by the SPS conformance window.
//!
//! ITU-T H.265 (v4, 12/2016) sections: 7.3.2.1–7.3.2.3 (VPS/SPS/PPS), 7.3.6.1 (slice header),
//! 7.3.8 (slice data, coding quadtree, PCM), 9.3.2.2 (context init), 9.3.4.3 (arithmetic coding).

use super::picture::Rgb;

const CTB: usize = 32;
const NAL_IDR_W_RADL: u8 = 19;
const NAL_VPS: u8 = 32;
const NAL_SPS: u8 = 33;
const NAL_PPS: u8 = 34;

/// One H.265 keyframe of `img` as NAL units without start codes (VPS, SPS, PPS, then one slice
/// per 32×32 block), as an RTP packetiser sends them. Width must be a multiple of 32 and height
/// of 2 (the simulator's pictures are 320×240).
pub fn to_h265(img: &Rgb) -> Vec<Vec<u8>> {
    let (w, h) = (img.width as usize, img.height as usize);
    assert!(
        w % CTB == 0 && h % 2 == 0 && w > 0 && h > 0,
        "H.265 PCM pictures: width a multiple of 32, height even"
    );
    let coded_h = h.div_ceil(CTB) * CTB;
    let (y, cb, cr) = super::picture::to_yuv420(img);
    let mut nals = parameter_sets(w, h);
    let (cols, rows) = (w / CTB, coded_h / CTB);
    let addr_bits = ceil_log2(cols * rows);
    for r in 0..rows {
        for c in 0..cols {
            let mut b = BitWriter::default();
            slice_header(&mut b, r * cols + c, addr_bits);
            let mut cabac = Cabac::new();
            cabac.decision_mps_fresh(&mut b); // split_cu_flag = 0
            cabac.terminate(&mut b, true); // pcm_flag = 1
            b.align_zero(); // pcm_alignment_zero_bit
            // Rows below the picture (the padding the conformance window crops) repeat the last row.
            let sample = |plane: &[u8], stride: usize, rows: usize, x: usize, y: usize| {
                plane[y.min(rows - 1) * stride + x]
            };
            for j in 0..CTB {
                for i in 0..CTB {
                    b.byte(sample(&y, w, h, c * CTB + i, r * CTB + j));
                }
            }
            for plane in [&cb, &cr] {
                for j in 0..CTB / 2 {
                    for i in 0..CTB / 2 {
                        b.byte(sample(
                            plane,
                            w / 2,
                            h / 2,
                            c * CTB / 2 + i,
                            r * CTB / 2 + j,
                        ));
                    }
                }
            }
            // The decoder re-initialises its arithmetic decoder after PCM samples.
            let mut cabac = Cabac::new();
            // end_of_slice_segment_flag = 1; the flush's last bit is rbsp_stop_one_bit.
            cabac.terminate(&mut b, true);
            b.align_zero();
            nals.push(nal(NAL_IDR_W_RADL, &b.finish()));
        }
    }
    nals
}

/// The VPS, SPS and PPS that open a `w`×`h` keyframe of `to_h265` (a decoder's tests use them
/// alone to claim a picture size without sending its slices).
pub fn parameter_sets(w: usize, h: usize) -> Vec<Vec<u8>> {
    let coded_h = h.div_ceil(CTB) * CTB;
    vec![
        nal(NAL_VPS, &vps()),
        nal(NAL_SPS, &sps(w, h, coded_h)),
        nal(NAL_PPS, &pps()),
    ]
}

fn ceil_log2(n: usize) -> u32 {
    usize::BITS - (n.max(1) - 1).leading_zeros()
}

/// The NAL unit: two-byte header (layer 0, temporal id 0) and the RBSP with emulation
/// prevention bytes inserted.
fn nal(kind: u8, rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 2);
    out.push(kind << 1);
    out.push(1);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    cur: u8,
    n: u32,
}

impl BitWriter {
    fn bit(&mut self, b: u32) {
        self.cur = (self.cur << 1) | (b & 1) as u8;
        self.n += 1;
        if self.n == 8 {
            self.out.push(self.cur);
            self.cur = 0;
            self.n = 0;
        }
    }
    fn u(&mut self, v: u32, bits: u32) {
        for k in (0..bits).rev() {
            self.bit(v >> k);
        }
    }
    fn flag(&mut self, f: bool) {
        self.bit(f as u32);
    }
    /// Exp-Golomb, unsigned.
    fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        self.u(0, len - 1);
        for k in (0..len).rev() {
            self.bit((x >> k) as u32);
        }
    }
    fn se(&mut self, v: i32) {
        let m = if v > 0 {
            2 * v as u32 - 1
        } else {
            2 * v.unsigned_abs()
        };
        self.ue(m);
    }
    fn byte(&mut self, b: u8) {
        if self.n == 0 {
            self.out.push(b);
        } else {
            self.u(b.into(), 8);
        }
    }
    fn align_zero(&mut self) {
        while self.n != 0 {
            self.bit(0);
        }
    }
    /// rbsp_trailing_bits: a stop bit, then zeros to the byte boundary.
    fn trailing(&mut self) {
        self.bit(1);
        self.align_zero();
    }
    fn finish(mut self) -> Vec<u8> {
        self.align_zero();
        self.out
    }
}

/// profile_tier_level(1, 0): Main profile, main tier, level 3.1, progressive frames.
fn profile_tier_level(b: &mut BitWriter) {
    b.u(0, 2); // general_profile_space
    b.flag(false); // general_tier_flag
    b.u(1, 5); // general_profile_idc: Main
    b.u(0x6000_0000, 32); // compatible with Main (1) and Main 10 (2)
    b.flag(true); // progressive_source
    b.flag(false); // interlaced_source
    b.flag(false); // non_packed_constraint
    b.flag(true); // frame_only_constraint
    b.u(0, 32); // 43 reserved zero bits + general_inbld_flag…
    b.u(0, 12);
    b.u(93, 8); // general_level_idc: 3.1
}

fn vps() -> Vec<u8> {
    let mut b = BitWriter::default();
    b.u(0, 4); // vps_video_parameter_set_id
    b.flag(true); // vps_base_layer_internal_flag
    b.flag(true); // vps_base_layer_available_flag
    b.u(0, 6); // vps_max_layers_minus1
    b.u(0, 3); // vps_max_sub_layers_minus1
    b.flag(true); // vps_temporal_id_nesting_flag
    b.u(0xFFFF, 16);
    profile_tier_level(&mut b);
    b.flag(true); // vps_sub_layer_ordering_info_present_flag
    b.ue(0); // vps_max_dec_pic_buffering_minus1
    b.ue(0); // vps_max_num_reorder_pics
    b.ue(0); // vps_max_latency_increase_plus1
    b.u(0, 6); // vps_max_layer_id
    b.ue(0); // vps_num_layer_sets_minus1
    b.flag(false); // vps_timing_info_present_flag
    b.flag(false); // vps_extension_flag
    b.trailing();
    b.finish()
}

fn sps(w: usize, h: usize, coded_h: usize) -> Vec<u8> {
    let mut b = BitWriter::default();
    b.u(0, 4); // sps_video_parameter_set_id
    b.u(0, 3); // sps_max_sub_layers_minus1
    b.flag(true); // sps_temporal_id_nesting_flag
    profile_tier_level(&mut b);
    b.ue(0); // sps_seq_parameter_set_id
    b.ue(1); // chroma_format_idc: 4:2:0
    b.ue(w as u32);
    b.ue(coded_h as u32);
    let crop = coded_h - h;
    b.flag(crop > 0); // conformance_window_flag
    if crop > 0 {
        b.ue(0);
        b.ue(0);
        b.ue(0);
        b.ue((crop / 2) as u32); // in chroma rows (SubHeightC = 2)
    }
    b.ue(0); // bit_depth_luma_minus8
    b.ue(0); // bit_depth_chroma_minus8
    b.ue(4); // log2_max_pic_order_cnt_lsb_minus4
    b.flag(true); // sps_sub_layer_ordering_info_present_flag
    b.ue(0);
    b.ue(0);
    b.ue(0);
    b.ue(0); // log2_min_luma_coding_block_size_minus3: 8×8
    b.ue(2); // log2_diff_max_min_luma_coding_block_size: CTB 32×32
    b.ue(0); // log2_min_luma_transform_block_size_minus2: 4×4
    b.ue(3); // log2_diff_max_min_luma_transform_block_size: 32×32
    b.ue(0); // max_transform_hierarchy_depth_inter
    b.ue(0); // max_transform_hierarchy_depth_intra
    b.flag(false); // scaling_list_enabled_flag
    b.flag(false); // amp_enabled_flag
    b.flag(false); // sample_adaptive_offset_enabled_flag
    b.flag(true); // pcm_enabled_flag
    b.u(7, 4); // pcm_sample_bit_depth_luma_minus1
    b.u(7, 4); // pcm_sample_bit_depth_chroma_minus1
    b.ue(2); // log2_min_pcm_luma_coding_block_size_minus3: 32×32
    b.ue(0); // log2_diff_max_min_pcm_luma_coding_block_size
    b.flag(true); // pcm_loop_filter_disabled_flag
    b.ue(0); // num_short_term_ref_pic_sets
    b.flag(false); // long_term_ref_pics_present_flag
    b.flag(false); // sps_temporal_mvp_enabled_flag
    b.flag(false); // strong_intra_smoothing_enabled_flag
    b.flag(false); // vui_parameters_present_flag
    b.flag(false); // sps_extension_present_flag
    b.trailing();
    b.finish()
}

fn pps() -> Vec<u8> {
    let mut b = BitWriter::default();
    b.ue(0); // pps_pic_parameter_set_id
    b.ue(0); // pps_seq_parameter_set_id
    b.flag(false); // dependent_slice_segments_enabled_flag
    b.flag(false); // output_flag_present_flag
    b.u(0, 3); // num_extra_slice_header_bits
    b.flag(false); // sign_data_hiding_enabled_flag
    b.flag(false); // cabac_init_present_flag
    b.ue(0); // num_ref_idx_l0_default_active_minus1
    b.ue(0); // num_ref_idx_l1_default_active_minus1
    b.se(0); // init_qp_minus26
    b.flag(false); // constrained_intra_pred_flag
    b.flag(false); // transform_skip_enabled_flag
    b.flag(false); // cu_qp_delta_enabled_flag
    b.se(0); // pps_cb_qp_offset
    b.se(0); // pps_cr_qp_offset
    b.flag(false); // pps_slice_chroma_qp_offsets_present_flag
    b.flag(false); // weighted_pred_flag
    b.flag(false); // weighted_bipred_flag
    b.flag(false); // transquant_bypass_enabled_flag
    b.flag(false); // tiles_enabled_flag
    b.flag(false); // entropy_coding_sync_enabled_flag
    b.flag(false); // pps_loop_filter_across_slices_enabled_flag
    b.flag(true); // deblocking_filter_control_present_flag
    b.flag(false); // deblocking_filter_override_enabled_flag
    b.flag(true); // pps_deblocking_filter_disabled_flag
    b.flag(false); // pps_scaling_list_data_present_flag
    b.flag(false); // lists_modification_present_flag
    b.ue(0); // log2_parallel_merge_level_minus2
    b.flag(false); // slice_segment_header_extension_present_flag
    b.flag(false); // pps_extension_present_flag
    b.trailing();
    b.finish()
}

/// An IDR I-slice header starting at CTB `addr`, ending byte-aligned for CABAC.
fn slice_header(b: &mut BitWriter, addr: usize, addr_bits: u32) {
    b.flag(addr == 0); // first_slice_segment_in_pic_flag
    b.flag(false); // no_output_of_prior_pics_flag
    b.ue(0); // slice_pic_parameter_set_id
    if addr != 0 {
        b.u(addr as u32, addr_bits); // slice_segment_address
    }
    b.ue(2); // slice_type: I
    b.se(0); // slice_qp_delta: QP 26
    // byte_alignment(): a one, then zeros.
    b.bit(1);
    b.align_zero();
}

/// The CABAC arithmetic encoder (9.3.4.3 as an encoder, H.264 9.3.4.2 style).
struct Cabac {
    low: u32,
    range: u32,
    outstanding: u32,
    first: bool,
}

impl Cabac {
    fn new() -> Self {
        Self {
            low: 0,
            range: 510,
            outstanding: 0,
            first: true,
        }
    }

    fn put(&mut self, b: &mut BitWriter, bit: u32) {
        if self.first {
            self.first = false;
        } else {
            b.bit(bit);
        }
        while self.outstanding > 0 {
            b.bit(1 - bit);
            self.outstanding -= 1;
        }
    }

    fn renorm(&mut self, b: &mut BitWriter) {
        while self.range < 256 {
            if self.low < 256 {
                self.put(b, 0);
            } else if self.low >= 512 {
                self.low -= 512;
                self.put(b, 1);
            } else {
                self.low -= 256;
                self.outstanding += 1;
            }
            self.range <<= 1;
            self.low <<= 1;
        }
    }

    /// The most probable symbol of a context in its initial state pStateIdx 0 (the only
    /// context-coded bin a slice here has): rangeTabLps[0] = {128, 176, 208, 240}.
    fn decision_mps_fresh(&mut self, b: &mut BitWriter) {
        const LPS_STATE0: [u32; 4] = [128, 176, 208, 240];
        self.range -= LPS_STATE0[((self.range >> 6) & 3) as usize];
        self.renorm(b);
    }

    fn terminate(&mut self, b: &mut BitWriter, bin: bool) {
        self.range -= 2;
        if bin {
            self.low += self.range;
            self.range = 2;
            self.renorm(b);
            let bit = (self.low >> 9) & 1;
            self.put(b, bit);
            b.u(((self.low >> 7) & 3) | 1, 2);
        } else {
            self.renorm(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::picture::{Scene, render_scene};

    #[test]
    fn exp_golomb() {
        let mut b = BitWriter::default();
        for v in [0, 1, 2, 3, 7] {
            b.ue(v);
        }
        // 1 010 011 00100 0001000
        assert_eq!(b.finish(), vec![0b1010_0110, 0b0100_0001, 0b0000_0000]);
    }

    #[test]
    fn emulation_prevention() {
        assert_eq!(
            nal(1, &[0, 0, 1, 0, 0, 0, 5]),
            vec![2, 1, 0, 0, 3, 1, 0, 0, 3, 0, 5]
        );
    }

    #[test]
    fn parameter_sets_then_one_slice_per_ctb() {
        let img = render_scene(Scene::Street, 320, 240, 0);
        let nals = to_h265(&img);
        let kinds: Vec<u8> = nals.iter().map(|n| n[0] >> 1).collect();
        assert_eq!(&kinds[..3], &[NAL_VPS, NAL_SPS, NAL_PPS]);
        assert_eq!(nals.len(), 3 + 10 * 8);
        assert!(kinds[3..].iter().all(|&k| k == NAL_IDR_W_RADL));
    }
}
