//! Arbitrary bytes as a camera's JPEG snapshot, decoded for picture diagnosis: the DC-only
//! decoder of large baseline pictures (`quality::jpeg_dc`), `jpeg-decoder` for the rest, and
//! the detectors on whatever decodes. The first byte picks a frame size the bytes are patched
//! into, so the DC-only path (1920 pixels across and more) is reached. Errors are fine, a panic
//! or a hang is a bug.
#![no_main]

use camwatch_core::quality::{Thresholds, diagnose, from_jpeg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut jpeg = data.to_vec();
    // Patch a SOF0 frame header's width to 1920 or more where the bytes hold one.
    if let Some(&pick) = data.first()
        && let Some(i) = jpeg.windows(2).position(|w| w == [0xFF, 0xC0])
        && jpeg.len() > i + 9
    {
        let width = 1920u16 + u16::from(pick) * 8;
        jpeg[i + 7..i + 9].copy_from_slice(&width.to_be_bytes());
    }
    for bytes in [data, jpeg.as_slice()] {
        if let Ok(t) = from_jpeg(bytes) {
            let _ = diagnose(&t, Some(&t), None, &Thresholds::default());
        }
    }
});
