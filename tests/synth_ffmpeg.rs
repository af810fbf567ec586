//! The synthetic H.265 encoder against a decoder not written by us: FFmpeg decodes the stream
//! to exactly the pixels that went in.

mod common;

use camwatch_synth::hevc::to_h265;
use camwatch_synth::picture::{Scene, render_scene, to_yuv420};

#[test]
fn ffmpeg_decodes_the_exact_picture() {
    if !common::ffmpeg() {
        return;
    }
    let img = render_scene(Scene::Vivid, 320, 240, 40);
    let dir = tempfile::tempdir().unwrap();
    let mut annexb = Vec::new();
    for n in to_h265(&img) {
        annexb.extend_from_slice(&[0, 0, 0, 1]);
        annexb.extend_from_slice(&n);
    }
    let src = dir.path().join("a.h265");
    let out = dir.path().join("a.yuv");
    std::fs::write(&src, &annexb).unwrap();
    let r = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-xerror",
            "-f",
            "hevc",
            "-i",
        ])
        .arg(&src)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        r.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let got = std::fs::read(&out).unwrap();
    let (y, cb, cr) = to_yuv420(&img);
    let want: Vec<u8> = [y, cb, cr].concat();
    assert_eq!(got.len(), want.len(), "one 320×240 frame");
    assert!(
        got == want,
        "decoded pixels differ from the encoded picture"
    );
}
