//! Arbitrary bytes as a SIP message (UDP datagram), as a TCP stream's buffer, as an
//! Authorization header and as a WWW-Authenticate challenge (the simulator's devices read
//! those): errors are fine, a panic or a hang is a bug.
#![no_main]

use camwatch_gb28181::{digest, sip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sip::frame(data);
    let _ = sip::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = digest::Credentials::parse(text);
        let _ = digest::parse_challenge(text);
    }
});
