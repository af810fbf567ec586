//! A DC-only decoder for baseline JPEG: the picture at 1/8 scale, each 8×8 block reduced to
//! its average (the DC coefficient), which is exactly what a 1/8-scaled IDCT computes. A
//! 1080p snapshot becomes 240×135, the size the detectors work at.
//!
//! Why hand-written: `jpeg-decoder`'s scaled decode still stores every coefficient and runs a
//! (reduced) IDCT per block, ~6 ms per 1080p snapshot here; libjpeg-turbo (`turbojpeg`) needs
//! cmake and nasm at build time. Skipping AC coefficients only needs their Huffman codes and
//! lengths, so this decoder is a marker parser, canonical Huffman tables with 13-bit lookups
//! (one of which steps over several whole coefficients at once, see `Run`) and a 64-bit bit
//! reader over the scan's data unstuffed first (`Entropy`), refilled without a branch or a
//! marker check (`Bits::refill`) once per up to four such lookups (`RUNS_PER_REFILL`): about
//! three times faster. `zune-jpeg`, the fastest
//! maintained pure-Rust decoder, has no scaled or DC-only decode: it decodes every pixel, which
//! `cargo bench --bench quality` (`zune_jpeg_full_size`) measures beside this.
//!
//! Round 10 of docs/evaluation.md measured the unstuffed data with the bit buffer in registers
//! and 13-bit lookups (instead of a refill that looked for markers every eight bytes and 12-bit
//! lookups) at 2.43–3.23 ms CPU time per noisy 1080p snapshot against 2.94–3.75 ms, six runs
//! each on a machine two other builds kept busy: ~15 % less, all of it in the entropy decode
//! (`scan`, ~85 % of a decode's profile).
//!
//! Round 12: the refill's load depends on the bits the lookup before it took, so refilling
//! before every lookup put a load on the chain from one lookup to the next; four lookups
//! (two after a block's DC difference) now share a refill, and the bit count sits in the
//! low six bits of a `Run` so the shift by it needs no mask. About 10–12 % less decode time
//! (docs/evaluation.md, round 12).
//!
//! Scope: 8-bit baseline and extended sequential Huffman (SOF0/SOF1), one interleaved scan of
//! 1 or 3 components in any sampling, restart intervals. Everything else (progressive,
//! arithmetic coding, 12-bit, CMYK, Adobe RGB, several scans) returns `Ok(None)` and the caller
//! uses `jpeg-decoder`; so does any error here (`jpeg-decoder` then names the problem).
//! ITU-T T.81 sections: B.2 (markers), C (Huffman tables), F.2.2 (decoding), F.2.2.3 (tables).

use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};

use super::frame::Thumb;

/// One Huffman table: lookups on the next few bits for short codes, the T.81 F.2.2.3 arrays
/// for longer ones.
struct Huffman {
    /// `(length << 8) | symbol` by the next `FAST_BITS` bits; 0 when the code is longer.
    fast: Box<[u16; 1 << FAST_BITS]>,
    /// DC tables: the same by the next `DC_BITS` bits, small enough to stay in the L1 cache
    /// beside the AC tables' `runs`.
    dc: Box<[u16; 1 << DC_BITS]>,
    /// AC tables: the coefficients the next `FAST_BITS` bits hold whole (see `Run`).
    runs: Box<[Run; 1 << FAST_BITS]>,
    maxcode: [i32; 18],
    valptr: [i32; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
}

/// AC coefficients (code and extra bits) lying whole in a lookup's bits, stepped over at once:
/// bits 0–5 how many bits they take (0: not even one fits), bits 6–11 the positions they
/// advance, bit 12 whether they end with an end of block. Six bits for the first (13 would
/// fit in four) because the shift by it then needs no mask: the CPU's shift takes six bits of
/// its count, and the lookup-to-shift chain is the decode's critical path.
///
/// A noisy 1080p snapshot holds ~700k AC symbols and the table load is the critical path, so
/// two or three symbols per lookup is what makes the decoder fast; 16-bit entries keep the
/// two AC tables at 16 KiB each, in the L1 cache (48 KiB here; 13 bits step over more
/// coefficients per lookup than 12 did, by ~5 % of the decode).
#[derive(Clone, Copy, Default)]
struct Run(u16);

impl Run {
    fn get(self) -> (u32, usize, bool) {
        (
            (self.0 & 63) as u32,
            (self.0 >> 6) as usize & 63,
            self.0 >> 12 & 1 == 1,
        )
    }
}

const FAST_BITS: u32 = 13;
const DC_BITS: u32 = 9;
/// Run lookups per refill of the bit buffer: 56 bits hold four of at most `FAST_BITS` (13).
const RUNS_PER_REFILL: usize = 4;

/// Tables already built, by their DHT bytes: a fleet's snapshots come from a few encoder
/// models, nearly all with the standard tables of T.81 Annex K, and building an AC table's
/// lookups (8,192 entries, twice) costs a few percent of decoding a 1080p snapshot. Shared by every
/// decoding thread (a lookup holds the lock for a comparison or two); at most `TABLE_CACHE`
/// entries of ~33 KiB, the oldest dropped first.
static TABLES: Mutex<Vec<(Vec<u8>, Arc<Huffman>)>> = Mutex::new(Vec::new());
const TABLE_CACHE: usize = 32;

impl Huffman {
    /// `new`, or the same table built before.
    fn cached(counts: &[u8; 16], values: &[u8], ac: bool) -> Result<Arc<Self>, String> {
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        let key: Vec<u8> = std::iter::once(ac as u8)
            .chain(counts.iter().copied())
            .chain(values.iter().take(total).copied())
            .collect();
        // A panic elsewhere while holding the lock leaves the cache as valid as before it.
        let lock = || TABLES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, t)) = lock().iter().find(|(k, _)| *k == key) {
            return Ok(t.clone());
        }
        let t = Arc::new(Self::new(counts, values, ac)?);
        let mut cache = lock();
        if cache.len() >= TABLE_CACHE {
            cache.remove(0);
        }
        cache.push((key, t.clone()));
        Ok(t)
    }

    /// `ac`: an AC table (class 1), which gets `runs`; a DC table gets `dc`.
    fn new(counts: &[u8; 16], values: &[u8], ac: bool) -> Result<Self, String> {
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        if total > 256 || values.len() < total {
            return Err("Huffman table: bad counts".into());
        }
        let mut h = Huffman {
            fast: Box::new([0; 1 << FAST_BITS]),
            dc: Box::new([0; 1 << DC_BITS]),
            runs: Box::new([Run::default(); 1 << FAST_BITS]),
            maxcode: [-1; 18],
            valptr: [0; 17],
            mincode: [0; 17],
            values: values[..total].to_vec(),
        };
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16usize {
            let n = counts[len - 1] as usize;
            h.valptr[len] = k as i32;
            h.mincode[len] = code;
            for _ in 0..n {
                if code >= 1 << len {
                    return Err("Huffman table: more codes than the lengths allow".into());
                }
                let e = ((len as u16) << 8) | values[k] as u16;
                if len as u32 <= FAST_BITS {
                    let shift = FAST_BITS - len as u32;
                    let first = (code as usize) << shift;
                    h.fast[first..first + (1 << shift)].fill(e);
                }
                if len as u32 <= DC_BITS && !ac {
                    let shift = DC_BITS - len as u32;
                    let first = (code as usize) << shift;
                    h.dc[first..first + (1 << shift)].fill(e);
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                h.maxcode[len] = code - 1;
            }
            code <<= 1;
        }
        h.maxcode[17] = i32::MAX;
        if ac {
            for w in 0..1 << FAST_BITS {
                h.runs[w as usize] = h.run(w);
            }
        }
        Ok(h)
    }

    /// The `Run` in the `FAST_BITS`-bit window `w`.
    fn run(&self, w: u32) -> Run {
        let (mut at, mut adv, mut eob) = (0u32, 0u32, false);
        while at < FAST_BITS {
            let e = self.fast[((w << at) & ((1 << FAST_BITS) - 1)) as usize];
            let (len, r, s) = ((e >> 8) as u32, (e as u32 >> 4) & 15, e as u32 & 15);
            if e == 0 || at + len > FAST_BITS {
                break;
            }
            match (r, s) {
                (0, 0) => {
                    at += len;
                    eob = true;
                    break;
                }
                (15, 0) if adv + 16 <= 63 => {
                    at += len;
                    adv += 16;
                }
                (_, 0) => break,
                _ if at + len + s <= FAST_BITS && adv + r < 63 => {
                    at += len + s;
                    adv += r + 1;
                }
                _ => break,
            }
        }
        Run((at | adv << 6 | (eob as u32) << 12) as u16)
    }
}

/// A scan's entropy-coded data unstuffed (0xFF00 read as 0xFF), cut at its restart markers into
/// segments, each followed by `PAD` zero bytes: the bit reader then loads eight bytes at any
/// position without looking for markers (see `Bits::refill`), and reads zeros past a segment's
/// end as T.81 F.2.2.5 has a decoder do at a marker.
struct Entropy {
    clean: Vec<u8>,
    /// Each segment's first byte and its end (where its padding starts), in `clean`.
    segments: Vec<(usize, usize)>,
}

/// Zero bytes after each segment: more than the tolerated overrun (8 bytes, `scan`) plus what
/// the bit buffer holds (8) plus one load (8).
const PAD: usize = 32;

impl Entropy {
    /// From the bytes after a scan header up to its end: the first marker other than RSTn
    /// (or the end of the data).
    fn of(d: &[u8]) -> Self {
        let mut clean = Vec::with_capacity(d.len() + PAD);
        let mut segments = Vec::new();
        let (mut start, mut i) = (0, 0);
        loop {
            let k = i + next_ff(&d[i..]);
            clean.extend_from_slice(&d[i..k]);
            let next = d.get(k + 1).copied();
            match next {
                Some(0x00) => {
                    clean.push(0xFF);
                    i = k + 2;
                }
                // Fill bytes before a marker.
                Some(0xFF) => i = k + 1,
                Some(0xD0..=0xD7) => {
                    segments.push((start, clean.len()));
                    clean.resize(clean.len() + PAD, 0);
                    start = clean.len();
                    i = k + 2;
                }
                // Another marker (or none): the scan ends.
                _ => {
                    segments.push((start, clean.len()));
                    clean.resize(clean.len() + PAD, 0);
                    return Self { clean, segments };
                }
            }
        }
    }
}

/// The index of the first 0xFF in `d`, or its length: eight bytes at a time.
fn next_ff(d: &[u8]) -> usize {
    let mut i = 0;
    while let Some(b) = d.get(i..i + 8) {
        // 0xFF bytes are the zero bytes of the complement; the lowest flagged byte is the
        // first (higher ones may be false positives).
        let x = !u64::from_le_bytes(b.try_into().expect("eight bytes"));
        let z = x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080;
        if z != 0 {
            return i + (z.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + d[i..]
        .iter()
        .position(|&b| b == 0xFF)
        .unwrap_or(d.len() - i)
}

/// Entropy-coded data (`Entropy`), MSB first.
struct Bits<'a> {
    d: &'a [u8],
    /// The next byte to load: `pos`·8 is always the bits consumed plus `n`.
    pos: usize,
    acc: u64,
    /// Valid bits in `acc` (the bits below them are the data's next bits, or zeros).
    n: u32,
}

impl<'a> Bits<'a> {
    /// At least 56 valid bits, without branches (F. Giesen's "variant 4"): the next eight
    /// bytes OR-ed in below the valid bits, and the position moved by the whole bytes taken.
    /// Past the end of the data it reads the final padding's zeros.
    #[inline(always)]
    fn refill(&mut self) {
        let at = self.pos.min(self.d.len() - 8);
        let word = u64::from_be_bytes(self.d[at..at + 8].try_into().expect("eight bytes"));
        self.acc |= word >> self.n;
        self.pos += ((63 - self.n) >> 3) as usize;
        self.n |= 56;
    }

    /// Bits consumed from the start of the data.
    fn consumed(&self) -> usize {
        self.pos * 8 - self.n as usize
    }

    /// To the start of the next segment, the bit buffer empty.
    fn seek(&mut self, pos: usize) {
        (self.pos, self.acc, self.n) = (pos, 0, 0);
    }

    fn symbol(&mut self, h: &Huffman) -> Result<u8, String> {
        self.refill();
        let e = h.fast[(self.acc >> (64 - FAST_BITS)) as usize];
        if e != 0 {
            let len = (e >> 8) as u32;
            self.acc <<= len;
            self.n -= len;
            return Ok(e as u8);
        }
        for len in FAST_BITS as usize + 1..=16 {
            let code = (self.acc >> (64 - len)) as i32;
            if code <= h.maxcode[len] {
                let i = h.valptr[len] + code - h.mincode[len];
                self.acc <<= len;
                self.n -= len as u32;
                return h
                    .values
                    .get(i as usize)
                    .copied()
                    .ok_or_else(|| "bad Huffman code".to_string());
            }
        }
        Err("bad Huffman code".into())
    }

    /// `s` bits as a signed coefficient (T.81 F.2.2.1 EXTEND); the caller refilled.
    /// Without branches: a block's DC difference is zero or not, positive or not, as the
    /// picture goes, so a branch on either is mispredicted about every other block.
    fn receive_extend(&mut self, s: u32) -> i32 {
        // `(acc >> 32) >> (32 - s)`: the top `s` bits, 0 for s = 0 (a shift by 64 would not be).
        let v = ((self.acc >> 32) >> (32 - s)) as i32;
        self.acc <<= s;
        self.n -= s;
        // Below half the range (the top bit clear) it is negative: v - 2^s + 1.
        let below = (v - ((1 << s) >> 1)) >> 31;
        v + (below & ((-1i32 << s) + 1))
    }

    fn skip(&mut self, s: u32) {
        self.acc <<= s;
        self.n -= s;
    }

    /// One block: its DC difference, and its AC coefficients stepped over. `FAST` uses the
    /// lookups (`dc`, `runs`, `fast`); without it, one symbol at a time the T.81 way
    /// (`ac_symbol`), which the tests hold the lookups to. Every step takes at most 31 bits
    /// (a 16-bit code and 15 extra bits), so one refill (56 bits) before each is enough.
    #[inline(always)]
    fn block<const FAST: bool>(&mut self, dc: &Huffman, ac: &Huffman) -> Result<i32, String> {
        self.refill();
        let e = dc.dc[(self.acc >> (64 - DC_BITS)) as usize];
        let (len, s) = ((e >> 8) as u32, (e & 0xFF) as u32);
        let diff = if FAST && e != 0 && s <= 11 {
            self.skip(len);
            self.receive_extend(s)
        } else {
            self.dc_diff(dc)?
        };
        if !FAST {
            let mut k = 1;
            while k < 64 {
                match self.ac_symbol(ac)? {
                    0 => break,
                    adv => k += adv,
                }
            }
            return Ok(diff);
        }
        let (runs, fast) = (&*ac.runs, &*ac.fast);
        // The bit buffer in locals, so it stays in registers: written back for the slow path.
        let (d, last) = (self.d, self.d.len() - 8);
        let (mut acc, mut n, mut pos) = (self.acc, self.n, self.pos);
        let mut k = 1;
        // Lookups the valid bits allow before the next refill: each looks at `FAST_BITS` and
        // takes at most as many. The DC difference took at most 27 of the 56 refilled.
        let mut steps = 2;
        'block: while k < 64 {
            let mut whole = true;
            for i in 0..RUNS_PER_REFILL {
                if i == steps {
                    break;
                }
                let (bits, adv, eob) = runs[(acc >> (64 - FAST_BITS)) as usize].get();
                // The run may hold the next block's first bits when this block ends at
                // position 63 without an end of block: then one coefficient at a time.
                let to = k + adv;
                if bits == 0 || to > 64 || (to == 64 && eob) {
                    whole = false;
                    break;
                }
                acc <<= bits;
                n -= bits;
                if eob || to == 64 {
                    break 'block;
                }
                k = to;
            }
            // `refill`, inline: at least 56 bits. Its load waits for the bits the lookups
            // before it took, so it is the slow link of the chain from one lookup to the
            // next: refilled before every lookup (round 10), the decode took ~10 % longer.
            let at = pos.min(last);
            acc |= u64::from_be_bytes(d[at..at + 8].try_into().expect("eight bytes")) >> n;
            pos += ((63 - n) >> 3) as usize;
            n |= 56;
            if whole {
                steps = RUNS_PER_REFILL;
                continue;
            }
            // A coefficient the runs do not cover whole (a long code, many extra bits, or
            // the block's last): one symbol.
            let e = fast[(acc >> (64 - FAST_BITS)) as usize];
            let (len, r, s) = ((e >> 8) as u32, (e >> 4) as usize & 15, (e & 15) as u32);
            if e != 0 && s != 0 {
                // At most 28 bits: two lookups' worth left.
                acc <<= len + s;
                n -= len + s;
                k += r + 1;
                steps = 2;
                continue;
            }
            (self.acc, self.n, self.pos) = (acc, n, pos);
            let adv = self.ac_symbol(ac)?;
            (acc, n, pos) = (self.acc, self.n, self.pos);
            if adv == 0 {
                break;
            }
            k += adv;
            // At most 31 bits (a 16-bit code and 15 extra bits) of a refill.
            steps = 1;
        }
        (self.acc, self.n, self.pos) = (acc, n, pos);
        Ok(diff)
    }

    /// One AC symbol, code and extra bits: the positions it advances; 0 for an end of block
    /// (any size-0 symbol other than the run of sixteen zeros is read as one).
    fn ac_symbol(&mut self, ac: &Huffman) -> Result<usize, String> {
        let rs = self.symbol(ac)?;
        let (r, s) = ((rs >> 4) as usize, (rs & 15) as u32);
        Ok(match (r, s) {
            (15, 0) => 16,
            (_, 0) => 0,
            _ => {
                self.skip(s);
                r + 1
            }
        })
    }

    #[cold]
    fn dc_diff(&mut self, dc: &Huffman) -> Result<i32, String> {
        let s = self.symbol(dc)? as u32;
        if s > 11 {
            return Err("bad DC coefficient size".into());
        }
        Ok(self.receive_extend(s))
    }
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    dc_table: usize,
    ac_table: usize,
}

impl Component {
    /// Blocks across and down per MCU: its sampling factors, or one block when the scan has
    /// this component alone (a single-component scan is not interleaved).
    fn blocks(&self, single: bool) -> (usize, usize) {
        if single { (1, 1) } else { (self.h, self.v) }
    }
}

fn be16(d: &[u8], i: usize) -> Result<usize, String> {
    d.get(i..i + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        .ok_or_else(|| "truncated header".to_string())
}

/// The picture at 1/8 scale as RGB, or `None` when this decoder does not handle the file or
/// its width or height is outside `widths` or `heights`.
pub fn decode(
    d: &[u8],
    widths: RangeInclusive<usize>,
    heights: RangeInclusive<usize>,
) -> Result<Option<Thumb>, String> {
    decode_with::<true>(d, widths, heights)
}

/// `decode`, with the entropy decoder's lookups (`FAST`) or one symbol at a time.
fn decode_with<const FAST: bool>(
    d: &[u8],
    widths: RangeInclusive<usize>,
    heights: RangeInclusive<usize>,
) -> Result<Option<Thumb>, String> {
    if !d.starts_with(&[0xFF, 0xD8]) {
        return Ok(None);
    }
    let mut dc_q = [0i32; 4];
    let mut dc_tables: [Option<Arc<Huffman>>; 4] = [None, None, None, None];
    let mut ac_tables: [Option<Arc<Huffman>>; 4] = [None, None, None, None];
    let mut comps: Vec<Component> = Vec::new();
    let (mut width, mut height) = (0usize, 0usize);
    let mut restart = 0usize;
    let mut i = 2;
    loop {
        while d.get(i) == Some(&0xFF) && d.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if d.get(i) != Some(&0xFF) {
            return Err("expected a marker".into());
        }
        let m = *d.get(i + 1).ok_or("truncated")?;
        i += 2;
        if m == 0x01 || (0xD0..=0xD7).contains(&m) {
            continue;
        }
        if m == 0xD9 {
            return Err("no scan before the end of the image".into());
        }
        let len = be16(d, i)?;
        let seg = d.get(i + 2..i + len).ok_or("truncated segment")?;
        match m {
            0xC0 | 0xC1 => {
                if seg.len() < 6 || seg[0] != 8 {
                    return Ok(None);
                }
                height = be16(seg, 1)?;
                width = be16(seg, 3)?;
                let n = seg[5] as usize;
                if !(n == 1 || n == 3)
                    || seg.len() < 6 + 3 * n
                    || !widths.contains(&width)
                    || !heights.contains(&height)
                {
                    return Ok(None);
                }
                for k in 0..n {
                    let c = &seg[6 + 3 * k..9 + 3 * k];
                    let (h, v) = ((c[1] >> 4) as usize, (c[1] & 15) as usize);
                    if !(1..=4).contains(&h) || !(1..=4).contains(&v) || c[2] > 3 {
                        return Ok(None);
                    }
                    comps.push(Component {
                        id: c[0],
                        h,
                        v,
                        tq: c[2] as usize,
                        dc_table: 0,
                        ac_table: 0,
                    });
                }
            }
            // Progressive, lossless, hierarchical, arithmetic: not here.
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(None),
            0xC4 => {
                let mut p = 0;
                while p < seg.len() {
                    let (class, id) = (seg[p] >> 4, (seg[p] & 15) as usize);
                    let counts: [u8; 16] = seg
                        .get(p + 1..p + 17)
                        .ok_or("truncated Huffman table")?
                        .try_into()
                        .map_err(|_| "truncated Huffman table")?;
                    let total: usize = counts.iter().map(|&c| c as usize).sum();
                    let values = seg
                        .get(p + 17..p + 17 + total)
                        .ok_or("truncated Huffman table")?;
                    if id > 3 || class > 1 {
                        return Err("bad Huffman table id".into());
                    }
                    let t = Some(Huffman::cached(&counts, values, class == 1)?);
                    if class == 0 {
                        dc_tables[id] = t;
                    } else {
                        ac_tables[id] = t;
                    }
                    p += 17 + total;
                }
            }
            0xDB => {
                let mut p = 0;
                while p < seg.len() {
                    let (prec, id) = (seg[p] >> 4, (seg[p] & 15) as usize);
                    if id > 3 {
                        return Err("bad quantisation table id".into());
                    }
                    // The first entry (zig-zag order) quantises DC.
                    dc_q[id] = if prec == 0 {
                        *seg.get(p + 1).ok_or("truncated DQT")? as i32
                    } else {
                        be16(seg, p + 1)? as i32
                    };
                    p += 1 + 64 * (1 + prec as usize);
                }
            }
            0xDD => restart = be16(seg, 0)?,
            // Adobe: the colour transform may say RGB or CMYK.
            0xEE if seg.starts_with(b"Adobe") => return Ok(None),
            0xDA => {
                let ns = *seg.first().ok_or("truncated SOS")? as usize;
                // No components (a scan before any frame header): nothing to decode here.
                if ns == 0 || ns != comps.len() || seg.len() < 1 + 2 * ns {
                    return Ok(None);
                }
                for k in 0..ns {
                    let (id, t) = (seg[1 + 2 * k], seg[2 + 2 * k]);
                    let c = comps
                        .iter_mut()
                        .find(|c| c.id == id)
                        .ok_or("scan names an unknown component")?;
                    c.dc_table = (t >> 4) as usize & 3;
                    c.ac_table = (t & 15) as usize & 3;
                }
                return scan::<FAST>(
                    &d[i + len..],
                    &comps,
                    &dc_tables,
                    &ac_tables,
                    &dc_q,
                    (width, height),
                    restart,
                )
                .map(Some);
            }
            _ => {}
        }
        i += len;
    }
}

fn scan<const FAST: bool>(
    data: &[u8],
    comps: &[Component],
    dc_tables: &[Option<Arc<Huffman>>; 4],
    ac_tables: &[Option<Arc<Huffman>>; 4],
    dc_q: &[i32; 4],
    (width, height): (usize, usize),
    restart: usize,
) -> Result<Thumb, String> {
    let single = comps.len() == 1;
    let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
    // A single-component scan is not interleaved: one block per MCU whatever its sampling.
    let (mh, mv) = if single { (1, 1) } else { (hmax, vmax) };
    let mcux = width.div_ceil(8 * mh);
    let mcuy = height.div_ceil(8 * mv);
    let mut planes: Vec<Vec<i32>> = comps
        .iter()
        .map(|c| {
            let (h, v) = c.blocks(single);
            vec![0; mcux * h * mcuy * v]
        })
        .collect();
    let tables: Vec<(&Huffman, &Huffman)> = comps
        .iter()
        .map(|c| match (&dc_tables[c.dc_table], &ac_tables[c.ac_table]) {
            (Some(dc), Some(ac)) => Ok((&**dc, &**ac)),
            _ => Err("scan uses an undefined Huffman table".to_string()),
        })
        .collect::<Result<_, _>>()?;
    let entropy = Entropy::of(data);
    let mut segments = entropy.segments.iter();
    let &(start, mut end) = segments.next().expect("a scan has a segment");
    let mut bits = Bits {
        d: &entropy.clean,
        pos: start,
        acc: 0,
        n: 0,
    };
    let mut pred = vec![0i32; comps.len()];
    let total = mcux * mcuy;
    for m in 0..total {
        if restart > 0 && m > 0 && m % restart == 0 {
            let &(start, e) = segments.next().ok_or("missing restart marker")?;
            bits.seek(start);
            end = e;
            pred.fill(0);
        }
        let (mx, my) = (m % mcux, m / mcux);
        for (ci, c) in comps.iter().enumerate() {
            let (h, v) = c.blocks(single);
            let (dc, ac) = tables[ci];
            for by in 0..v {
                for bx in 0..h {
                    pred[ci] += bits.block::<FAST>(dc, ac)?;
                    let stride = mcux * h;
                    planes[ci][(my * v + by) * stride + mx * h + bx] = pred[ci];
                }
            }
        }
        // Zero padding at the end of a scan is tolerated; a scan cut short is not.
        if bits.consumed() > (end + 8) * 8 {
            return Err(format!("entropy-coded data ends at MCU {m} of {total}"));
        }
    }
    let (w, h) = (width.div_ceil(8), height.div_ceil(8));
    // Each component's block averages as pixel values, then sampled at every output pixel:
    // full-resolution components directly, subsampled chroma interpolated linearly between
    // block centres (weights 3/4 and 1/4 at 2:1, as libjpeg's and jpeg-decoder's "fancy"
    // upsampling). Weights are computed once per column and per row.
    let sampled: Vec<Vec<f32>> = comps
        .iter()
        .zip(&planes)
        .map(|(c, plane)| {
            let (ch, cv) = c.blocks(single);
            let stride = mcux * ch;
            let rows = plane.len() / stride;
            let q = dc_q[c.tq];
            let vals: Vec<f32> = plane
                .iter()
                .map(|&dc| ((dc * q) as f32 / 8.0 + 128.0).clamp(0.0, 255.0))
                .collect();
            let taps = |n: usize, num: usize, den: usize, lim: usize| -> Vec<(usize, usize, f32)> {
                (0..n)
                    .map(|i| {
                        let f = ((i as f32 + 0.5) * num as f32 / den as f32 - 0.5).max(0.0);
                        let i0 = (f as usize).min(lim - 1);
                        (i0, (i0 + 1).min(lim - 1), f - f.floor())
                    })
                    .collect()
            };
            // Separably: along each stored row, then between rows. A full-resolution axis
            // has weight 0 everywhere and is a copy.
            let mut across = Vec::with_capacity(rows * w);
            if ch == mh {
                for row in vals.chunks_exact(stride) {
                    across.extend_from_slice(&row[..w]);
                }
            } else {
                let xs = taps(w, ch, mh, stride);
                for row in vals.chunks_exact(stride) {
                    across.extend(
                        xs.iter()
                            .map(|&(x0, x1, ax)| row[x0] + (row[x1] - row[x0]) * ax),
                    );
                }
            }
            if cv == mv {
                across.truncate(h * w);
                return across;
            }
            let mut out = Vec::with_capacity(w * h);
            for (y0, y1, ay) in taps(h, cv, mv, rows) {
                let (r0, r1) = (&across[y0 * w..][..w], &across[y1 * w..][..w]);
                out.extend(
                    r0.iter()
                        .zip(r1)
                        .map(|(&top, &bottom)| top + (bottom - top) * ay),
                );
            }
            out
        })
        .collect();
    let px = |v: f32| (v + 0.5).clamp(0.0, 255.0) as u8;
    let mut rgb = vec![0u8; w * h * 3];
    if single {
        for (o, &l) in rgb.chunks_exact_mut(3).zip(&sampled[0]) {
            o.fill(px(l));
        }
    } else {
        let ycc = sampled[0].iter().zip(&sampled[1]).zip(&sampled[2]);
        for (o, ((&l, &cb), &cr)) in rgb.chunks_exact_mut(3).zip(ycc) {
            let (cb, cr) = (cb - 128.0, cr - 128.0);
            o[0] = px(l + 1.402 * cr);
            o[1] = px(l - 0.344_136 * cb - 0.714_136 * cr);
            o[2] = px(l + 1.772 * cb);
        }
    }
    Ok(Thumb {
        width: w,
        height: h,
        rgb,
        scale: 8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_synth::picture::{Scene, render_scene};
    use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
    use proptest::prelude::*;

    const ANY: RangeInclusive<usize> = 1..=65535;

    fn picture(w: u32, h: u32, seed: u64) -> Vec<u8> {
        let mut img = render_scene(Scene::ALL[seed as usize % 5], w, h, 40);
        let mut z = seed | 1;
        for v in img.data.iter_mut() {
            z ^= z << 13;
            z ^= z >> 7;
            z ^= z << 17;
            *v = v.saturating_add((z % 7) as u8).saturating_sub(3);
        }
        img.data
    }

    struct Setting {
        sampling: SamplingFactor,
        restart: u16,
        optimized: bool,
        grey: bool,
        quality: u8,
    }

    fn encode(px: &[u8], w: u16, h: u16, s: &Setting) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out, s.quality);
        e.set_sampling_factor(s.sampling);
        e.set_restart_interval(s.restart);
        e.set_optimized_huffman_tables(s.optimized);
        if s.grey {
            let l: Vec<u8> = px.chunks(3).map(|p| p[1]).collect();
            e.encode(&l, w, h, ColorType::Luma).unwrap();
        } else {
            e.encode(px, w, h, ColorType::Rgb).unwrap();
        }
        out
    }

    /// `jpeg-decoder` at 1/8 scale: the reference.
    fn reference(jpeg: &[u8]) -> Thumb {
        let mut d = jpeg_decoder::Decoder::new(std::io::Cursor::new(jpeg));
        d.read_info().unwrap();
        let info = d.info().unwrap();
        let (w, h) = d
            .scale(info.width.div_ceil(8), info.height.div_ceil(8))
            .unwrap();
        let px = d.decode().unwrap();
        let rgb = if px.len() == w as usize * h as usize {
            px.iter().flat_map(|&v| [v, v, v]).collect()
        } else {
            px
        };
        Thumb {
            width: w as usize,
            height: h as usize,
            rgb,
            scale: 8,
        }
    }

    #[test]
    fn matches_a_one_eighth_scaled_decode() {
        let samplings = [
            SamplingFactor::F_2_2,
            SamplingFactor::F_1_1,
            SamplingFactor::F_2_1,
            SamplingFactor::F_1_2,
            SamplingFactor::F_4_1,
        ];
        let mut n = 0;
        for (k, sampling) in samplings.into_iter().enumerate() {
            for (restart, optimized, grey) in [
                (0, false, false),
                (7, true, false),
                (0, false, true),
                (3, false, true),
                (5, false, false),
            ] {
                let (w, h) = (333 + 16 * k as u16, 201 + 8 * k as u16);
                let px = picture(w as u32, h as u32, n + 1);
                let s = Setting {
                    sampling,
                    restart,
                    optimized,
                    grey,
                    quality: [60, 85, 95][n as usize % 3],
                };
                let jpeg = encode(&px, w, h, &s);
                let Some(ours) = decode(&jpeg, ANY, ANY).unwrap() else {
                    // One scan per component (jpeg-encoder writes those with optimised tables
                    // or 4:1 sampling): left to jpeg-decoder.
                    assert!(
                        optimized || matches!(sampling, SamplingFactor::F_4_1),
                        "setting {n}"
                    );
                    n += 1;
                    continue;
                };
                let want = reference(&jpeg);
                assert_eq!(
                    (ours.width, ours.height),
                    (want.width, want.height),
                    "setting {n}"
                );
                let worst = ours
                    .rgb
                    .iter()
                    .zip(&want.rgb)
                    .map(|(a, b)| (*a as i32 - *b as i32).abs())
                    .max()
                    .unwrap();
                assert!(worst <= 3, "setting {n} ({w}×{h}): off by up to {worst}");
                n += 1;
            }
        }
    }

    /// The lookups that step over several coefficients at once give exactly what decoding one
    /// symbol at a time gives, including blocks whose last coefficient is coded (no end of
    /// block: quality 100 on a noisy picture), restart intervals and long codes.
    #[test]
    fn lookups_match_symbol_by_symbol_decoding() {
        for (n, quality) in [50u8, 75, 90, 98, 100].into_iter().enumerate() {
            for sampling in [SamplingFactor::F_2_2, SamplingFactor::F_1_1] {
                let (w, h) = (512u16 + 8 * n as u16, 288u16);
                let mut px = picture(w as u32, h as u32, 100 + n as u64);
                // Heavy noise in part of the picture: long AC codes and full blocks.
                let mut z = 0x9E37_79B9_7F4A_7C15u64 + n as u64;
                for v in px.iter_mut().take(w as usize * 3 * 64) {
                    z ^= z << 13;
                    z ^= z >> 7;
                    z ^= z << 17;
                    *v = (z >> 24) as u8;
                }
                let s = Setting {
                    sampling,
                    restart: [0, 0, 5, 0, 11][n],
                    optimized: false,
                    grey: n == 1,
                    quality,
                };
                let jpeg = encode(&px, w, h, &s);
                let fast = decode_with::<true>(&jpeg, ANY, ANY)
                    .unwrap()
                    .expect("baseline");
                let plain = decode_with::<false>(&jpeg, ANY, ANY)
                    .unwrap()
                    .expect("baseline");
                assert!(fast == plain, "quality {quality}, {w}×{h}");
            }
        }
    }

    #[test]
    fn progressive_and_broken_files_are_left_to_jpeg_decoder() {
        let (w, h) = (320u16, 240u16);
        let px = picture(320, 240, 5);
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out, 85);
        e.set_progressive(true);
        e.encode(&px, w, h, ColorType::Rgb).unwrap();
        assert!(decode(&out, ANY, ANY).unwrap().is_none(), "progressive");
        let s = Setting {
            sampling: SamplingFactor::F_2_2,
            restart: 0,
            optimized: false,
            grey: false,
            quality: 85,
        };
        let jpeg = encode(&px, w, h, &s);
        assert!(
            decode(&jpeg[..jpeg.len() / 2], ANY, ANY).is_err(),
            "cut in half"
        );
        assert!(
            decode(&jpeg[..100], ANY, ANY).is_err(),
            "cut in the headers"
        );
        assert!(decode(b"GIF89a", ANY, ANY).unwrap().is_none());
        // A scan of no components before any frame header (found by the fuzz target).
        let empty_scan = [0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x03, 0x00];
        assert!(decode(&empty_scan, ANY, ANY).unwrap().is_none());
        assert!(
            decode(&jpeg, 321..=65535, ANY).unwrap().is_none(),
            "narrower than asked"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Any size, 4:2:0, 4:2:2 or 4:4:4 (or greyscale), any restart interval and quality:
        /// the block averages `jpeg-decoder`'s 1/8-scaled decode gives, to rounding.
        #[test]
        fn equals_the_reference_block_means(
            w in 40u16..300, h in 24u16..200, seed in any::<u64>(),
            sampling in 0usize..3, restart in 0u16..24, quality in 40u8..=100, grey in any::<bool>(),
        ) {
            let s = Setting {
                sampling: [SamplingFactor::F_2_2, SamplingFactor::F_2_1, SamplingFactor::F_1_1][sampling],
                restart,
                optimized: false,
                grey,
                quality,
            };
            let jpeg = encode(&picture(w as u32, h as u32, seed), w, h, &s);
            let ours = decode(&jpeg, ANY, ANY).unwrap().expect("one interleaved baseline scan");
            let want = reference(&jpeg);
            prop_assert_eq!((ours.width, ours.height), (want.width, want.height));
            let worst = ours.rgb.iter().zip(&want.rgb).map(|(a, b)| (*a as i32 - *b as i32).abs()).max();
            prop_assert!(worst.unwrap_or(0) <= 3, "off by {:?}", worst);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The lookups (several coefficients a step, `RUNS_PER_REFILL` steps a refill) give
        /// exactly the DC image that decoding one symbol at a time the T.81 way gives: any
        /// size, 4:2:0, 4:2:2, 4:4:0, 4:4:4 or greyscale, any restart interval, quality up
        /// to 100 (blocks coded to their last coefficient), from no noise to heavy noise
        /// (long codes, many extra bits).
        #[test]
        fn lookups_equal_symbol_by_symbol_decoding_on_any_jpeg(
            w in 16u16..400, h in 8u16..240, seed in any::<u64>(), sampling in 0usize..4,
            restart in 0u16..40, quality in 20u8..=100, grey in any::<bool>(), noise in 0u32..256,
        ) {
            let mut px = picture(w as u32, h as u32, seed);
            let mut z = seed | 1;
            for v in px.iter_mut() {
                z ^= z << 13;
                z ^= z >> 7;
                z ^= z << 17;
                let g = (z >> 40) as u32 % (noise + 1);
                *v = (*v as u32 + g).saturating_sub(noise / 2).min(255) as u8;
            }
            let s = Setting {
                sampling: [SamplingFactor::F_2_2, SamplingFactor::F_2_1, SamplingFactor::F_1_2, SamplingFactor::F_1_1][sampling],
                restart,
                optimized: false,
                grey,
                quality,
            };
            let jpeg = encode(&px, w, h, &s);
            let fast = decode_with::<true>(&jpeg, ANY, ANY).unwrap().expect("baseline");
            let plain = decode_with::<false>(&jpeg, ANY, ANY).unwrap().expect("baseline");
            prop_assert!(fast == plain);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Random bytes, and a real JPEG with bytes flipped: an answer or an error, never a
        /// panic or a hang.
        #[test]
        fn corrupt_input_never_panics(
            b in prop::collection::vec(any::<u8>(), 0..2048),
            flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..24),
        ) {
            let mut junk = vec![0xFF, 0xD8];
            junk.extend_from_slice(&b);
            let _ = decode(&junk, ANY, ANY);
            let px = picture(96, 64, 9);
            let s = Setting { sampling: SamplingFactor::F_2_2, restart: 2, optimized: false, grey: false, quality: 80 };
            let mut jpeg = encode(&px, 96, 64, &s);
            for (at, v) in flips {
                let i = 2 + at % (jpeg.len() - 2);
                jpeg[i] ^= v;
            }
            let _ = decode(&jpeg, ANY, ANY);
        }
    }
}
