//! Arbitrary bytes as RTP packets carrying an MPEG Program Stream, as the platform receives a
//! GB/T 28181 device's media: the first bytes choose how the rest is cut into packets, which
//! carry the marker and where packets are lost. Errors are fine, a panic or a hang is a bug.
#![no_main]

use camwatch_gb28181::ps;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&plan, rest)) = data.split_first() else {
        return;
    };
    let size = usize::from(plan % 64) * 32 + 1;
    let mut d = ps::Demuxer::new();
    for (i, chunk) in rest.chunks(size).enumerate() {
        let _ = ps::rtp(chunk);
        if plan & 0x80 != 0 && i % 7 == 3 {
            d.lost();
        }
        if d.push(chunk, plan & 0x40 != 0 && i % 3 == 0).is_err() {
            return;
        }
    }
});
