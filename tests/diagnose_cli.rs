//! `camwatch diagnose` as a user runs it: a JPEG file in, the verdict out, judged by the
//! fleet's or a device group's thresholds from the config file.

mod common;

use std::process::Command;

use camwatch_synth::picture::{PictureFault, Scene, apply_fault, render_scene, to_jpeg};

fn diagnose(args: &[&str], dir: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_camwatch"))
        .args(["--config", dir.join("camwatch.toml").to_str().unwrap()])
        .arg("diagnose")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_groups_thresholds_apply_with_group() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("camwatch.toml"),
        "[[scheduler.groups]]\nname = \"tunnel\"\nregion_prefix = \"3401\"\n\
         thresholds = { too_dark = { zero = -1.0, one = -2.0 } }\n",
    )
    .unwrap();
    let dark = apply_fault(
        &render_scene(Scene::Street, 640, 360, 0),
        PictureFault::TooDark,
        1,
    );
    let img = dir.path().join("dark.jpg");
    std::fs::write(&img, to_jpeg(&dark, 85)).unwrap();
    let img = img.to_str().unwrap();

    let (ok, out, err) = diagnose(&[img, "--json"], dir.path());
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = v["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"too_dark"), "{out}");

    let (ok, out, err) = diagnose(&[img, "--json", "--group", "tunnel"], dir.path());
    assert!(ok, "{err}");
    assert!(!out.contains("too_dark"), "{out}");

    let (ok, _, err) = diagnose(&[img, "--group", "nope"], dir.path());
    assert!(!ok);
    assert!(err.contains("no device group named \"nope\""), "{err}");
}

#[test]
fn a_truncated_jpeg_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("camwatch.toml"), "").unwrap();
    let jpeg = to_jpeg(&render_scene(Scene::Street, 320, 180, 0), 85);
    let img = dir.path().join("cut.jpg");
    std::fs::write(&img, &jpeg[..jpeg.len() / 3]).unwrap();
    let (ok, _, err) = diagnose(&[img.to_str().unwrap()], dir.path());
    assert!(!ok);
    assert!(err.contains("cut.jpg"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Keyframes from real encoders are decoded and diagnosed like a snapshot: FFmpeg's libx264
/// (High profile, CABAC) and libx265 (Main, and Main 10 for 10-bit samples). A black frame is
/// signal loss, a test pattern is not.
#[test]
fn real_encoder_keyframes_are_diagnosed() {
    if !common::ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("camwatch.toml"), "").unwrap();
    // FFmpeg's arguments after the input, by codec.
    let x265 = "-c:v libx265 -x265-params log-level=error -f hevc";
    let encoders = [
        (
            "h264",
            "-pix_fmt yuv420p -c:v libx264 -profile:v high -f h264".to_string(),
        ),
        ("h265", format!("-pix_fmt yuv420p {x265}")),
        ("h265-10bit", format!("-pix_fmt yuv420p10le {x265}")),
    ];
    for (codec, args) in encoders {
        for (name, source) in [
            ("black", "color=c=black:size=1280x720"),
            ("pattern", "testsrc=size=1280x720"),
        ] {
            let file = dir.path().join(format!("{name}.{codec}"));
            let out = Command::new("ffmpeg")
                .args([
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-f",
                    "lavfi",
                    "-i",
                    source,
                ])
                .args(["-frames:v", "1"])
                .args(args.split(' '))
                .arg(&file)
                .output()
                .expect("ffmpeg (Debian package ffmpeg; .ci/run installs it)");
            assert!(
                out.status.success(),
                "{codec}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let (ok, out, err) = diagnose(&[file.to_str().unwrap(), "--json"], dir.path());
            assert!(ok, "{codec} {name}: {err}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(
                v["metrics"]["width"], 426,
                "{codec} {name}: decoded and shrunk: {out}"
            );
            let signal_loss = out.contains("\"signal_loss\"");
            assert_eq!(signal_loss, name == "black", "{codec} {name}: {out}");
        }
    }
}
