//! RTP over one TCP connection (RFC 4571, GB/T 28181-2016 annex C): each RTP packet preceded
//! by its length, two bytes big-endian. [`Deframer`] cuts a byte stream arriving in arbitrary
//! pieces back into packets; [`frame`] writes one (the simulator's). Pure.
//!
//! Bounded: a length below an RTP header's 12 bytes or above [`MAX_PACKET`] is a malformed
//! stream, named with the offending length and where it was, not a buffer grown to fit it; the
//! buffer holds at most one unfinished packet and the bytes pushed since. Must not: do I/O.

/// The longest RTP packet taken from a TCP stream. Devices packetize PS at about their
/// MTU over TCP too; a few use larger packets, none near the format's 65,535.
pub const MAX_PACKET: usize = 32 * 1024;

/// The shortest: an RTP fixed header.
const MIN_PACKET: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error(
        "RTP over TCP: a packet length of {len} at stream byte {at} (an RTP packet is 12 to {MAX_PACKET} bytes)"
    )]
    Length { len: usize, at: u64 },
}

/// Packets out of a byte stream.
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
    /// Where the next packet's length is in `buf`.
    start: usize,
    /// Stream bytes consumed before `buf[0]` (for naming where an error is).
    consumed: u64,
}

impl Deframer {
    pub fn new() -> Self {
        Self::default()
    }

    /// More bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.consumed += self.start as u64;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole packet, if one has arrived.
    pub fn next_packet(&mut self) -> Result<Option<&[u8]>, FramingError> {
        let rest = &self.buf[self.start..];
        let Some(head) = rest.get(..2) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([head[0], head[1]]));
        if !(MIN_PACKET..=MAX_PACKET).contains(&len) {
            return Err(FramingError::Length {
                len,
                at: self.consumed + self.start as u64,
            });
        }
        if rest.len() < 2 + len {
            return Ok(None);
        }
        let from = self.start + 2;
        self.start = from + len;
        Ok(Some(&self.buf[from..from + len]))
    }

    /// Bytes held (an unfinished packet, and whole ones not yet taken).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// `packet` with its RFC 4571 length; `None` when it is longer than the format allows.
pub fn frame(packet: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(packet.len()).ok()?;
    let mut out = Vec::with_capacity(2 + packet.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn packet(n: usize, fill: u8) -> Vec<u8> {
        let mut p = vec![0x80, 96, 0, 0];
        p.resize(n, fill);
        p
    }

    /// Every packet of `stream` fed in pieces of `cut` bytes, and the deframer after.
    fn deframe(stream: &[u8], cut: usize) -> (Vec<Vec<u8>>, Deframer) {
        let mut d = Deframer::new();
        let mut got = Vec::new();
        for piece in stream.chunks(cut) {
            d.push(piece);
            while let Some(p) = d.next_packet().unwrap() {
                got.push(p.to_vec());
            }
        }
        (got, d)
    }

    #[test]
    fn packets_come_back_whole_however_the_stream_is_cut() {
        let packets = [packet(12, 1), packet(1400, 2), packet(MAX_PACKET, 3)];
        let stream: Vec<u8> = packets.iter().flat_map(|p| frame(p).unwrap()).collect();
        for cut in [1, 2, 3, 7, 1401, stream.len()] {
            let (got, d) = deframe(&stream, cut);
            assert_eq!(got, packets, "cut {cut}");
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn lengths_out_of_bounds_are_named_where_they_are() {
        let mut d = Deframer::new();
        d.push(&frame(&packet(20, 0)).unwrap());
        d.push(&[0xFF, 0xFF, 1, 2, 3]);
        assert_eq!(d.next_packet().unwrap().map(<[u8]>::len), Some(20));
        let e = d.next_packet().unwrap_err();
        assert_eq!(
            e,
            FramingError::Length {
                len: 65_535,
                at: 22
            }
        );
        assert_eq!(
            e.to_string(),
            "RTP over TCP: a packet length of 65535 at stream byte 22 (an RTP packet is 12 to 32768 bytes)"
        );
        let mut d = Deframer::new();
        d.push(&[0, 0]);
        assert_eq!(d.next_packet(), Err(FramingError::Length { len: 0, at: 0 }));
        let mut d = Deframer::new();
        d.push(&[0]);
        assert_eq!(d.next_packet(), Ok(None));
        assert_eq!(frame(&vec![0; 70_000]), None);
    }

    proptest! {
        /// Arbitrary bytes in arbitrary pieces: never a panic, and the buffer never holds more
        /// than one packet's bound and the piece just pushed.
        #[test]
        fn arbitrary_streams_stay_bounded(
            bytes in proptest::collection::vec(any::<u8>(), 0..8192),
            cut in 1usize..3000,
        ) {
            let mut d = Deframer::new();
            'outer: for piece in bytes.chunks(cut) {
                d.push(piece);
                prop_assert!(d.buffered() <= 2 + MAX_PACKET + piece.len());
                loop {
                    match d.next_packet() {
                        Ok(Some(p)) => prop_assert!((MIN_PACKET..=MAX_PACKET).contains(&p.len())),
                        Ok(None) => break,
                        Err(_) => break 'outer,
                    }
                }
            }
        }

        /// Any packets, framed and cut anywhere, come back in order.
        #[test]
        fn any_packets_round_trip(
            sizes in proptest::collection::vec(12usize..3000, 0..20),
            cut in 1usize..5000,
        ) {
            let packets: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, n)| packet(*n, i as u8)).collect();
            let stream: Vec<u8> = packets.iter().flat_map(|p| frame(p).unwrap()).collect();
            let (got, _) = deframe(&stream, cut);
            prop_assert_eq!(got, packets);
        }
    }
}
