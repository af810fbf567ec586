//! Picture diagnostics speed: decode (DCT-scaled) + every detector on a 1920×1080 and a
//! 3840×2160 JPEG, against a full-size decode of the same JPEG for comparison.
//! `cargo bench --bench quality`

use camwatch::quality::{Thresholds, diagnose, from_jpeg};
use camwatch::sim::picture::{Scene, render_scene, to_jpeg};
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
        g.bench_function("decode_scaled_and_diagnose", |b| {
            b.iter(|| {
                let th = from_jpeg(black_box(&jpeg)).unwrap();
                black_box(diagnose(&th, Some(&th), Some(&th), &t))
            })
        });
        let th = from_jpeg(&jpeg).unwrap();
        g.bench_function("diagnose_only", |b| {
            b.iter(|| black_box(diagnose(black_box(&th), Some(&th), Some(&th), &t)))
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
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
