//! MPEG-2 Program Stream (ISO/IEC 13818-1 §2.5) as GB/T 28181 carries video over RTP: the
//! stream demuxed to the first keyframe (an H.264 IDR or H.265 IRAP access unit, in Annex B
//! form as the PES packets carry it), and, for the simulator, one frame muxed the way devices
//! send it. Also the RTP fixed header (RFC 3550 §5.1) these bytes arrive in. Pure: bytes in,
//! bytes or an error out.
//!
//! **Hand-written, on purpose.** The one Program Stream crate on crates.io (`mpeg-ps`) is a
//! months-old crate of one author with a new minor version every few weeks, parses whole
//! buffers (our bytes arrive a datagram at a time, and a PES packet may span many), brings two
//! more crates, and does not mux (the simulator needs that). What a GB/T 28181 picture needs
//! is small: find pack headers, skip system headers, maps and other streams by their length,
//! read the PES header of video packets and keep their payload. That is this module.
//!
//! A GB/T 28181 device sends each video frame as one pack (pack header; with a keyframe a
//! system header and a program stream map; then the frame in one or more PES packets of
//! stream 0xE0), and the RTP packet carrying a frame's last bytes has the marker bit set. A
//! frame is complete at its RTP marker or at the next pack header, whichever comes first.
//!
//! Bounds: a frame's elementary stream is at most [`MAX_FRAME`] bytes, and at most
//! [`MAX_BEFORE_KEYFRAME`] bytes of stream are read before a keyframe; beyond either the
//! demuxer fails with an error naming the bound. Buffered bytes never exceed one PES packet
//! (at most 65,541 bytes) plus one pushed chunk. Nothing here panics on any input (a property
//! test and a fuzz target feed it arbitrary bytes).
//!
//! Must not: do I/O, or decode pictures (`camwatch_core::quality::keyframe` does).

use camwatch_core::quality::keyframe::{Codec, codec_of};

/// The largest elementary-stream frame accepted (a 4K IDR is 1–2 MB at high quality).
pub const MAX_FRAME: usize = 4 << 20;
/// The most stream bytes read before a keyframe: a camera sends one every few seconds, so a
/// stream this long without one is not going to give one.
pub const MAX_BEFORE_KEYFRAME: usize = 32 << 20;
/// The most elementary-stream bytes per PES packet the muxer writes (the length field is 16
/// bits, the PES header takes some of it).
pub const MAX_PES_PAYLOAD: usize = 65_000;

const PACK: u8 = 0xBA;
const SYSTEM_HEADER: u8 = 0xBB;
const PSM: u8 = 0xBC;
const END: u8 = 0xB9;
/// PSM stream types (ISO/IEC 13818-1 Table 2-34).
pub const STREAM_TYPE_H264: u8 = 0x1B;
pub const STREAM_TYPE_H265: u8 = 0x24;

/// Why bytes are not the Program Stream we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsError {
    #[error("MPEG-PS: expected a start code (00 00 01) at stream byte {at}, found {found:02x?}")]
    NoStartCode { at: u64, found: [u8; 4] },
    #[error(
        "MPEG-PS: start code 00 00 01 {id:02x} at stream byte {at} is not a system or PES start code"
    )]
    BadStreamId { at: u64, id: u8 },
    #[error("MPEG-PS: pack header at stream byte {at} is not MPEG-2 ('01' prefix)")]
    NotMpeg2Pack { at: u64 },
    #[error("MPEG-PS: video PES at stream byte {at}: {detail}")]
    BadPes { at: u64, detail: &'static str },
    #[error("MPEG-PS: a video frame exceeds {limit} bytes")]
    FrameTooLarge { limit: usize },
    #[error("MPEG-PS: {limit} bytes of stream without a keyframe")]
    NoKeyframe { limit: usize },
}

/// The first keyframe of a stream: one access unit in Annex B form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    pub codec: Codec,
    pub annex_b: Vec<u8>,
}

/// Demuxes a Program Stream arriving in pieces, up to its first keyframe.
#[derive(Debug, Default)]
pub struct Demuxer {
    /// Bytes not yet parsed (less than one whole unit).
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`, for error messages.
    offset: u64,
    /// The current frame's elementary stream.
    frame: Vec<u8>,
    /// The codec the program stream map declared, if one came.
    declared: Option<Codec>,
    /// Bytes pushed so far.
    total: usize,
    /// After a loss: skipping to the next pack header.
    resync: bool,
    done: bool,
    /// The error the stream failed with: given again for anything pushed after it.
    failed: Option<PsError>,
}

impl Demuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of stream taken so far.
    pub fn bytes(&self) -> usize {
        self.total
    }

    /// Packets were lost (an RTP sequence gap): the frame in progress is dropped and bytes are
    /// skipped up to the next pack header.
    pub fn lost(&mut self) {
        self.buf.clear();
        self.frame.clear();
        self.resync = true;
    }

    /// The next piece of the stream; `end_of_frame` when it ends a frame (the RTP marker).
    /// Returns the first keyframe once it is complete (and nothing after it).
    pub fn push(
        &mut self,
        bytes: &[u8],
        end_of_frame: bool,
    ) -> Result<Option<AccessUnit>, PsError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.done {
            return Ok(None);
        }
        self.total = self.total.saturating_add(bytes.len());
        if self.total > MAX_BEFORE_KEYFRAME {
            let e = PsError::NoKeyframe {
                limit: MAX_BEFORE_KEYFRAME,
            };
            self.failed = Some(e.clone());
            return Err(e);
        }
        self.buf.extend_from_slice(bytes);
        let mut pos = 0usize;
        let result = loop {
            match self.unit(pos) {
                Ok(Step::More) => break Ok(None),
                Ok(Step::Consumed(n)) => pos += n,
                Ok(Step::FrameEnd(n)) => {
                    pos += n;
                    if let Some(au) = self.complete() {
                        break Ok(Some(au));
                    }
                }
                Err(e) => break Err(e),
            }
        };
        self.offset += pos as u64;
        self.buf.drain(..pos.min(self.buf.len()));
        if let Err(e) = &result {
            self.buf.clear();
            self.frame.clear();
            self.failed = Some(e.clone());
        }
        match result {
            Ok(None) if end_of_frame && self.buf.is_empty() => Ok(self.complete()),
            r => r,
        }
    }

    /// The frame in progress, if it holds a keyframe (then the demuxer is done); cleared
    /// either way.
    fn complete(&mut self) -> Option<AccessUnit> {
        let frame = std::mem::take(&mut self.frame);
        let codec = self.declared.unwrap_or_else(|| codec_of(&frame));
        if !is_keyframe(codec, &frame) {
            return None;
        }
        self.done = true;
        Some(AccessUnit {
            codec,
            annex_b: frame,
        })
    }

    /// Parses the unit at `buf[pos..]`.
    fn unit(&mut self, pos: usize) -> Result<Step, PsError> {
        let b = &self.buf[pos..];
        let at = self.offset + pos as u64;
        if self.resync {
            // Skip to the next pack header (keeping a partial start code at the end).
            return Ok(match find_pack(b) {
                Some(0) => {
                    self.resync = false;
                    Step::Consumed(0)
                }
                Some(i) => Step::Consumed(i),
                None => Step::Consumed(b.len().saturating_sub(3)).or_more(),
            });
        }
        if b.len() < 4 {
            return Ok(Step::More);
        }
        if b[..3] != [0, 0, 1] {
            return Err(PsError::NoStartCode {
                at,
                found: [b[0], b[1], b[2], b[3]],
            });
        }
        match b[3] {
            PACK => {
                if b.len() < 14 {
                    return Ok(Step::More);
                }
                if b[4] & 0xC0 != 0x40 {
                    return Err(PsError::NotMpeg2Pack { at });
                }
                let len = 14 + usize::from(b[13] & 0x07);
                if b.len() < len {
                    return Ok(Step::More);
                }
                // A pack header starts a new frame: the previous one is complete.
                Ok(if self.frame.is_empty() {
                    Step::Consumed(len)
                } else {
                    Step::FrameEnd(len)
                })
            }
            END => Ok(Step::FrameEnd(4)),
            id if id >= SYSTEM_HEADER => {
                if b.len() < 6 {
                    return Ok(Step::More);
                }
                let len = 6 + usize::from(u16::from_be_bytes([b[4], b[5]]));
                if b.len() < len {
                    return Ok(Step::More);
                }
                match id {
                    PSM => {
                        if let Some(c) = psm_video_codec(&b[6..len]) {
                            self.declared = Some(c);
                        }
                    }
                    0xE0..=0xEF => {
                        let payload = pes_payload(&b[..len])
                            .map_err(|detail| PsError::BadPes { at, detail })?;
                        if self.frame.len() + payload.len() > MAX_FRAME {
                            return Err(PsError::FrameTooLarge { limit: MAX_FRAME });
                        }
                        self.frame.extend_from_slice(payload);
                    }
                    // Audio, private, padding, directory: not ours.
                    _ => {}
                }
                Ok(Step::Consumed(len))
            }
            id => Err(PsError::BadStreamId { at, id }),
        }
    }
}

enum Step {
    /// The unit is incomplete: wait for more bytes.
    More,
    Consumed(usize),
    /// Consumed, and the frame in progress ends here.
    FrameEnd(usize),
}

impl Step {
    /// Nothing consumed means more bytes are needed.
    fn or_more(self) -> Self {
        match self {
            Self::Consumed(0) => Self::More,
            s => s,
        }
    }
}

fn find_pack(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == [0, 0, 1, PACK])
}

/// The payload of a video PES packet (`pes` is the whole packet, start code included).
fn pes_payload(pes: &[u8]) -> Result<&[u8], &'static str> {
    if pes.len() < 9 {
        return Err("shorter than its header");
    }
    if pes[6] & 0xC0 != 0x80 {
        return Err("not an MPEG-2 PES header ('10' prefix)");
    }
    let start = 9 + usize::from(pes[8]);
    if start > pes.len() {
        return Err("header data longer than the packet");
    }
    Ok(&pes[start..])
}

/// The codec of the first video stream a program stream map declares.
fn psm_video_codec(body: &[u8]) -> Option<Codec> {
    // current_next/version, marker, program_stream_info_length.
    let info = usize::from(u16::from_be_bytes([*body.get(2)?, *body.get(3)?]));
    let map_at = 4 + info;
    let map_len = usize::from(u16::from_be_bytes([
        *body.get(map_at)?,
        *body.get(map_at + 1)?,
    ]));
    let map = body.get(map_at + 2..map_at + 2 + map_len)?;
    let mut i = 0;
    while i + 4 <= map.len() {
        let (ty, id) = (map[i], map[i + 1]);
        let len = usize::from(u16::from_be_bytes([map[i + 2], map[i + 3]]));
        if (0xE0..=0xEF).contains(&id) {
            match ty {
                STREAM_TYPE_H264 => return Some(Codec::H264),
                STREAM_TYPE_H265 => return Some(Codec::H265),
                _ => {}
            }
        }
        i += 4 + len;
    }
    None
}

/// The NAL unit headers' first bytes of an Annex B stream.
fn nal_starts(annex_b: &[u8]) -> impl Iterator<Item = u8> + '_ {
    annex_b
        .windows(4)
        .filter(|w| w[..3] == [0, 0, 1])
        .map(|w| w[3])
}

/// Whether an Annex B frame holds a keyframe slice: H.264 IDR (type 5), H.265 IRAP (16–23).
pub fn is_keyframe(codec: Codec, annex_b: &[u8]) -> bool {
    nal_starts(annex_b).any(|h| match codec {
        Codec::H264 => h & 0x1F == 5,
        Codec::H265 => (16..=23).contains(&((h >> 1) & 0x3F)),
    })
}

/// One frame as a device sends it: a pack header (SCR = `pts`, 90 kHz), with a keyframe a
/// system header and a program stream map naming `codec`, then the Annex B `frame` in PES
/// packets of stream 0xE0 (the first with the PTS).
pub fn mux_frame(codec: Codec, frame: &[u8], pts: u64, keyframe: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len() + 64 + frame.len() / MAX_PES_PAYLOAD * 9);
    // Pack header: SCR base (33 bits) in the '01' layout, extension 0, mux rate, no stuffing.
    let scr = pts & ((1 << 33) - 1);
    out.extend_from_slice(&[0, 0, 1, PACK]);
    out.push(0x44 | (((scr >> 30) & 0x07) << 3) as u8 | ((scr >> 28) & 0x03) as u8);
    out.push((scr >> 20) as u8);
    out.push(0x04 | (((scr >> 15) & 0x1F) << 3) as u8 | ((scr >> 13) & 0x03) as u8);
    out.push((scr >> 5) as u8);
    out.push(0x04 | ((scr & 0x1F) << 3) as u8);
    out.push(0x01);
    out.extend_from_slice(&[0x00, 0x9C, 0x43, 0xF8]);
    if keyframe {
        // System header: rate bound, one video stream (0xE0) with its buffer bound.
        out.extend_from_slice(&[
            0,
            0,
            1,
            SYSTEM_HEADER,
            0x00,
            0x09,
            0x80,
            0x4E,
            0x21,
            0x04,
            0xE1,
            0xFF,
            0xE0,
            0xE0,
            0xE8,
        ]);
        let stream_type = match codec {
            Codec::H264 => STREAM_TYPE_H264,
            Codec::H265 => STREAM_TYPE_H265,
        };
        // Program stream map: no program info, one entry, CRC (not checked by readers here;
        // written as zeros by many devices too).
        out.extend_from_slice(&[
            0,
            0,
            1,
            PSM,
            0x00,
            0x0E,
            0xE0,
            0xFF,
            0x00,
            0x00,
            0x00,
            0x04,
            stream_type,
            0xE0,
            0x00,
            0x00,
            0x00,
            0x00,
            0x00,
            0x00,
        ]);
    }
    let mut first = true;
    let chunks: Vec<&[u8]> = if frame.is_empty() {
        vec![&[]]
    } else {
        frame.chunks(MAX_PES_PAYLOAD).collect()
    };
    for chunk in chunks {
        let header: Vec<u8> = if first {
            let p = pts & ((1 << 33) - 1);
            vec![
                0x80,
                0x80,
                5,
                0x21 | (((p >> 30) & 0x07) << 1) as u8,
                (p >> 22) as u8,
                0x01 | (((p >> 15) & 0x7F) << 1) as u8,
                (p >> 7) as u8,
                0x01 | ((p & 0x7F) << 1) as u8,
            ]
        } else {
            vec![0x80, 0x00, 0]
        };
        first = false;
        let len = (header.len() + chunk.len()) as u16;
        out.extend_from_slice(&[0, 0, 1, 0xE0]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(chunk);
    }
    out
}

/// An RTP packet's fixed header fields and payload (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtp<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("RTP packet of {0} bytes is shorter than its fixed header")]
    Short(usize),
    #[error("RTP version {0}, not 2")]
    Version(u8),
    #[error("RTP header (CSRCs, extension or padding) longer than the packet")]
    Truncated,
}

/// Parses one RTP packet.
pub fn rtp(p: &[u8]) -> Result<Rtp<'_>, RtpError> {
    if p.len() < 12 {
        return Err(RtpError::Short(p.len()));
    }
    if p[0] >> 6 != 2 {
        return Err(RtpError::Version(p[0] >> 6));
    }
    let mut start = 12 + 4 * usize::from(p[0] & 0x0F);
    if p[0] & 0x10 != 0 {
        let words = p.get(start + 2..start + 4).ok_or(RtpError::Truncated)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    let mut end = p.len();
    if p[0] & 0x20 != 0 {
        end = end
            .checked_sub(usize::from(p[end - 1]))
            .ok_or(RtpError::Truncated)?;
    }
    if start > end {
        return Err(RtpError::Truncated);
    }
    Ok(Rtp {
        marker: p[1] & 0x80 != 0,
        payload_type: p[1] & 0x7F,
        seq: u16::from_be_bytes([p[2], p[3]]),
        timestamp: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
        ssrc: u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
        payload: &p[start..end],
    })
}

/// The payload type GB/T 28181 uses for PS (`a=rtpmap:96 PS/90000`).
pub const PT_PS: u8 = 96;

/// `ps` (one frame) as RTP packets of at most `mtu` payload bytes, the marker on the last.
/// `seq` is the first packet's sequence number and is advanced.
pub fn packetize(ps: &[u8], seq: &mut u16, timestamp: u32, ssrc: u32, mtu: usize) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = ps.chunks(mtu.max(1)).collect();
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut p = Vec::with_capacity(12 + c.len());
            p.push(0x80);
            p.push(if i + 1 == n { 0x80 | PT_PS } else { PT_PS });
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&timestamp.to_be_bytes());
            p.extend_from_slice(&ssrc.to_be_bytes());
            p.extend_from_slice(c);
            *seq = seq.wrapping_add(1);
            p
        })
        .collect()
}

#[cfg(test)]
mod tests;
