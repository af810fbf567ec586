//! Picture diagnostics speed: decode (DCT-scaled) + every detector on a 1920×1080 and a
//! 3840×2160 JPEG, against full-size decodes of the same JPEG (`jpeg-decoder`, `zune-jpeg`) for
//! comparison; and decode +
//! every detector on a 1080p H.264 and H.265 keyframe from FFmpeg's libx264 and libx265 (those
//! two only where `ffmpeg` is installed: Debian's package `ffmpeg`).
//! `cargo bench --bench quality`

use camwatch_core::quality::{Baseline, Thresholds, diagnose, from_h264, from_h265, from_jpeg};
use camwatch_synth::picture::{Scene, render_scene, to_jpeg};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn frame(w: u32, h: u32) -> Vec<u8> {
    let mut img = render_scene(Scene::Street, w, h, 0);
    // Sensor noise so the JPEG has realistic entropy.
    let mut z = 0x2545F4914F6CDD1Du64;
    for v in img.data.iter_mut() {
        z ^= z << 13;
        z ^= z >> 7;
        z ^= z << 17;
        *v = v.saturating_add((z % 9) as u8).saturating_sub(4);
    }
    to_jpeg(&img, 85)
}

fn bench(c: &mut Criterion) {
    let t = Thresholds::default();
    for (name, w, h) in [("1080p", 1920, 1080), ("4k", 3840, 2160)] {
        let jpeg = frame(w, h);
        let mut g = c.benchmark_group(name);
        // The camera's approved baseline is measured once, when the monitor loads it.
        let base = Baseline::new(&from_jpeg(&jpeg).unwrap());
        g.bench_function("decode_scaled_and_diagnose", |b| {
            b.iter(|| {
                let th = from_jpeg(black_box(&jpeg)).unwrap();
                black_box(diagnose(&th, Some(&th), Some(&base), &t))
            })
        });
        let th = from_jpeg(&jpeg).unwrap();
        g.bench_function("diagnose_only", |b| {
            b.iter(|| black_box(diagnose(black_box(&th), Some(&th), Some(&base), &t)))
        });
        g.bench_function("decode_scaled_only", |b| {
            b.iter(|| black_box(from_jpeg(black_box(&jpeg)).unwrap()))
        });
        g.bench_function("decode_full_size", |b| {
            b.iter(|| {
                let mut d = jpeg_decoder::Decoder::new(std::io::Cursor::new(black_box(&jpeg)));
                black_box(d.decode().unwrap())
            })
        });
        // zune-jpeg has no scaled or DC-only decode: the whole picture, for comparison.
        g.bench_function("zune_jpeg_full_size", |b| {
            b.iter(|| {
                let mut d = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(black_box(&jpeg)));
                black_box(d.decode().unwrap())
            })
        });
        g.finish();
    }
}

/// One 1080p keyframe of FFmpeg's `testsrc2` pattern with sensor-like noise, by `encoder`
/// (FFmpeg's arguments after the input).
fn keyframe(encoder: &str) -> Option<Vec<u8>> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi"])
        .args(["-i", "testsrc2=size=1920x1080,noise=alls=8:allf=t"])
        .args(["-frames:v", "1", "-pix_fmt", "yuv420p"])
        .args(encoder.split(' '))
        .arg("-")
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

fn keyframes(c: &mut Criterion) {
    let t = Thresholds::default();
    let x264 = "-c:v libx264 -profile:v high -f h264";
    let x265 = "-c:v libx265 -x265-params log-level=error -f hevc";
    let (Some(h264), Some(h265)) = (keyframe(x264), keyframe(x265)) else {
        eprintln!("keyframes: skipped (no ffmpeg with libx264 and libx265)");
        return;
    };
    let mut g = c.benchmark_group("1080p_keyframe");
    let base = Baseline::new(&from_h264(&h264).unwrap());
    g.bench_function("h264_decode_and_diagnose", |b| {
        b.iter(|| {
            let th = from_h264(black_box(&h264)).unwrap();
            black_box(diagnose(&th, Some(&th), Some(&base), &t))
        })
    });
    g.bench_function("h265_decode_and_diagnose", |b| {
        b.iter(|| {
            let th = from_h265(black_box(&h265)).unwrap();
            black_box(diagnose(&th, Some(&th), Some(&base), &t))
        })
    });
    g.finish();
}

criterion_group!(benches, bench, keyframes);
criterion_main!(benches);
