//! Arbitrary bytes as a MANSCDP body (any declared encoding): errors are fine, a panic, a hang
//! or unbounded memory is a bug.
#![no_main]

use camwatch_gb28181::manscdp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = manscdp::parse(data);
});
