use proptest::prelude::*;

use super::*;

fn img(w: usize, h: usize, f: impl Fn(usize, usize) -> [u8; 3]) -> Thumb {
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            rgb.extend_from_slice(&f(x, y));
        }
    }
    Thumb {
        width: w,
        height: h,
        rgb,
    }
}

/// A textured scene: smooth shading plus edges, like a street.
fn scene(x: usize, y: usize) -> [u8; 3] {
    let v = 60
        + (x * 3 + y) % 120
        + if (x / 20 + y / 15).is_multiple_of(2) {
            40
        } else {
            0
        };
    let v = v.min(250) as u8;
    [v, v.saturating_sub(10), v.saturating_sub(25)]
}

#[test]
fn black_and_blue_screens_are_signal_loss_even_with_text() {
    let t = Thresholds::default();
    let black = img(240, 135, |x, y| {
        if y < 12 && x < 100 && x % 3 == 0 {
            [255; 3]
        } else {
            [2, 2, 2]
        }
    });
    let d = diagnose(&black, None, None, &t);
    assert_eq!(d.faults[0].kind, FaultKind::SignalLoss, "{d:?}");
    let blue = img(240, 135, |_, _| [0, 0, 200]);
    assert_eq!(
        diagnose(&blue, None, None, &t).faults[0].kind,
        FaultKind::SignalLoss
    );
}

#[test]
fn frozen_needs_identical_samples() {
    let t = Thresholds::default();
    let a = img(240, 135, scene);
    let d = diagnose(&a, Some(&a), None, &t);
    assert!(
        d.faults.iter().any(|f| f.kind == FaultKind::Frozen),
        "{d:?}"
    );
    let b = img(240, 135, |x, y| {
        let p = scene(x, y);
        let n = ((x * 7 + y * 13) % 5) as u8;
        [p[0].saturating_add(n), p[1].saturating_add(n), p[2]]
    });
    let d = diagnose(&b, Some(&a), None, &t);
    assert!(
        !d.faults.iter().any(|f| f.kind == FaultKind::Frozen),
        "{d:?}"
    );
}

#[test]
fn jpeg_errors_are_named_not_panics() {
    assert_eq!(from_jpeg(b"hello"), Err(FrameError::NotJpeg));
    assert!(matches!(
        from_jpeg(&[0xFF, 0xD8, 0xFF]),
        Err(FrameError::Decode(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_bytes_never_panic(mut b in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = from_jpeg(&b);
        if b.len() > 2 { b[0] = 0xFF; b[1] = 0xD8; }
        let _ = from_jpeg(&b);
    }

    #[test]
    fn scores_are_in_range(seed in any::<u64>(), w in 32usize..200, h in 32usize..120) {
        let t = img(w, h, |x, y| {
            let z = (x as u64).wrapping_mul(6364136223846793005).wrapping_add(y as u64 ^ seed);
            let v = (z >> 56) as u8;
            [v, v / 2, 255 - v]
        });
        let d = diagnose(&t, Some(&t), Some(&t), &Thresholds::default());
        for f in &d.faults {
            prop_assert!((0.5..=1.0).contains(&f.score));
        }
    }
}
