//! Arbitrary bytes as a device's side of picture media over TCP: the first byte picks how the
//! rest is cut; the rest is read both as the device's SDP answer (planned against each mode
//! the platform offers) and as an RFC 4571 stream of RTP packets carrying an MPEG Program
//! Stream, as the platform receives it. Errors are fine, a panic, a hang or a buffer beyond
//! its bound is a bug.
#![no_main]

use camwatch_gb28181::sdp::{self, Media, MediaMode};
use camwatch_gb28181::{ps, tcp_rtp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&plan, rest)) = data.split_first() else {
        return;
    };
    if let Ok(m) = Media::parse(rest) {
        for mode in [MediaMode::Udp, MediaMode::TcpPassive, MediaMode::TcpActive] {
            let _ = sdp::plan(mode, &m);
        }
    }
    let size = usize::from(plan % 64) * 64 + 1;
    let mut framing = tcp_rtp::Deframer::new();
    let mut demux = ps::Demuxer::new();
    for piece in rest.chunks(size) {
        framing.push(piece);
        assert!(framing.buffered() <= 2 + tcp_rtp::MAX_PACKET + piece.len());
        loop {
            match framing.next_packet() {
                Ok(Some(p)) => {
                    let Ok(rtp) = ps::rtp(p) else { return };
                    if demux.push(rtp.payload, rtp.marker).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
