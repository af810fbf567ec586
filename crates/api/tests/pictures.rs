//! A camera's pictures over the API: the evidence frame, the approved baselines, and approving
//! a picture as the baseline (roles, scope, the faulty-picture guard, the audit, and the
//! running monitor's view).

mod common;

use camwatch_core::cause::Cause;
use camwatch_core::clock::Clock;
use camwatch_core::outcome::{PictureVerdict, ProbeKind, ProbeOutcome};
use camwatch_core::quality::{FaultKind, FaultSet, Thresholds, diagnose, fingerprint, from_jpeg};
use camwatch_monitor::live::Evidence;
use camwatch_monitor::scheduler::ProbeClass;
use camwatch_synth::picture::{PictureFault, Rgb, Scene, apply_fault, render_scene, to_jpeg};
use common::*;
use serde_json::json;

fn street() -> Vec<u8> {
    to_jpeg(&render_scene(Scene::Street, 640, 360, 0), 85)
}

fn dark_street() -> Vec<u8> {
    to_jpeg(
        &apply_fault(
            &render_scene(Scene::Street, 640, 360, 0),
            PictureFault::TooDark,
            1,
        ),
        85,
    )
}

/// Gives device `i` (A1 is 0) an evidence frame, as the monitor does when a fault is confirmed.
fn evidence(e: &Env, i: usize, jpeg: &[u8]) {
    let cause = Cause::picture(FaultSet::from_iter([FaultKind::SceneChange])).unwrap();
    e.monitor.set_evidence(
        i,
        Evidence {
            at: 1_764_576_000,
            cause,
            jpeg: jpeg.to_vec().into(),
        },
    );
}

#[tokio::test]
async fn the_evidence_frame_is_served_within_scope_only() {
    let e = env().await;
    let op = e.login("op").await;
    let (status, _, _) = e.fetch(&format!("/devices/{A1}/evidence"), &op).await;
    assert_eq!(status, 404, "no evidence yet");
    let r = e.get(&format!("/devices/{A1}"), &op).await;
    assert_eq!(r.body["evidence"], serde_json::Value::Null);
    assert_eq!(r.body["baselines"], json!({"day": false, "night": false}));

    let jpeg = street();
    evidence(&e, 0, &jpeg);
    let (status, headers, body) = e.fetch(&format!("/devices/{A1}/evidence"), &op).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["cache-control"], "private, no-store");
    assert_eq!(body, jpeg);
    let r = e.get(&format!("/devices/{A1}"), &op).await;
    assert_eq!(r.body["evidence"]["at"], 1_764_576_000);
    assert_eq!(r.body["evidence"]["cause"], "scene_change");

    // BetaCo maintains B1 only; the Luyang district operator sees no Shushan camera.
    e.user(
        "luyang",
        camwatch_core::access::Role::Operator,
        "340103",
        None,
    )
    .await;
    for who in ["beta", "luyang"] {
        let auth = e.login(who).await;
        let (status, _, body) = e.fetch(&format!("/devices/{A1}/evidence"), &auth).await;
        assert_eq!(status, 404, "{who}: {}", String::from_utf8_lossy(&body));
    }
    let (status, _, _) = e
        .fetch(&format!("/devices/{A1}/evidence"), &Auth::None)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn approving_the_evidence_writes_the_baseline_audits_it_and_reaches_the_monitor() {
    let e = env().await;
    let a1: camwatch_core::registry::DeviceCode = A1.parse().unwrap();
    let jpeg = street();
    evidence(&e, 0, &jpeg);
    assert!(e.monitor.views().get(&a1).baseline.is_none());

    // Who may not: an auditor and a contractor (their roles), a district operator elsewhere.
    e.user(
        "luyang",
        camwatch_core::access::Role::Operator,
        "340103",
        None,
    )
    .await;
    for (who, want) in [("audit", 403), ("alpha", 403), ("luyang", 404)] {
        let auth = e.login(who).await;
        let r = e
            .send("POST", &format!("/devices/{A1}/baseline"), &auth, json!({}))
            .await;
        assert_eq!(r.status, want, "{who}: {}", r.body);
    }
    assert!(
        !e.data_dir()
            .join("baselines")
            .join(format!("{A1}.jpg"))
            .exists()
    );

    let op = e.login("shushan").await;
    let r = e
        .send(
            "POST",
            &format!("/devices/{A1}/baseline"),
            &op,
            json!({"source": "evidence"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["reads_alone_as"], json!([]));
    assert_eq!(r.body["night"], false);
    let file = e.data_dir().join("baselines").join(format!("{A1}.jpg"));
    assert_eq!(std::fs::read(&file).unwrap(), jpeg);
    let (status, headers, body) = e.fetch(&format!("/devices/{A1}/baseline"), &op).await;
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "image/jpeg")
    );
    assert_eq!(body, jpeg);
    let (status, _, _) = e
        .fetch(&format!("/devices/{A1}/baseline?night=true"), &op)
        .await;
    assert_eq!(status, 404, "no night picture was approved");
    let r = e.get(&format!("/devices/{A1}"), &op).await;
    assert_eq!(r.body["baselines"], json!({"day": true, "night": false}));
    assert!(
        e.monitor.views().get(&a1).baseline.is_some(),
        "the running monitor judges the next sample against it"
    );

    let admin = e.login("admin1").await;
    let r = e.get("/audit?action=baseline.approve", &admin).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let entries = r.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", r.body);
    assert_eq!(entries[0]["actor"], "shushan");
    assert_eq!(entries[0]["target"], A1);
}

#[tokio::test]
async fn a_picture_that_reads_as_faulty_alone_needs_force() {
    let e = env().await;
    evidence(&e, 0, &dark_street());
    let op = e.login("op").await;
    let r = e
        .send("POST", &format!("/devices/{A1}/baseline"), &op, json!({}))
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["field"], "force");
    assert!(
        r.body["message"].as_str().unwrap().contains("too_dark"),
        "{}",
        r.body
    );
    assert!(
        !e.data_dir()
            .join("baselines")
            .join(format!("{A1}.jpg"))
            .exists()
    );

    let r = e
        .send(
            "POST",
            &format!("/devices/{A1}/baseline"),
            &op,
            json!({"force": true, "night": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body["reads_alone_as"]
            .as_array()
            .unwrap()
            .contains(&json!("too_dark")),
        "{}",
        r.body
    );
    assert!(
        e.data_dir()
            .join("baselines")
            .join(format!("{A1}.night.jpg"))
            .exists()
    );
}

#[tokio::test]
async fn bad_requests_name_what_is_wrong() {
    let e = env().await;
    let op = e.login("op").await;
    // No evidence frame held.
    let r = e
        .send("POST", &format!("/devices/{A2}/baseline"), &op, json!({}))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // The camera has neither a snapshot nor a stream URL: no picture to fetch.
    let r = e
        .send(
            "POST",
            &format!("/devices/{A2}/baseline"),
            &op,
            json!({"source": "camera"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["field"], "source");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("no picture now"),
        "{}",
        r.body
    );
    // An unknown source, an unknown field, a bad code.
    for body in [json!({"source": "file"}), json!({"path": "/etc/passwd"})] {
        let r = e
            .send("POST", &format!("/devices/{A2}/baseline"), &op, body)
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
    }
    let r = e.send("POST", "/devices/12/baseline", &op, json!({})).await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("code")));
    let (status, _, _) = e.fetch("/devices/12/evidence", &op).await;
    assert_eq!(status, 400);
    // Undecodable evidence is refused as such, not written.
    evidence(&e, 1, b"not a jpeg");
    let r = e
        .send("POST", &format!("/devices/{A2}/baseline"), &op, json!({}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        !e.data_dir()
            .join("baselines")
            .join(format!("{A2}.jpg"))
            .exists()
    );
}

/// A camera with no approved baseline whose sampled picture has a suspect (a red façade
/// filling the view: a tint or the scene's colour, only a baseline can tell) shows it on its
/// device page as a suspect, with the picture probe that found it, and is not degraded by it.
#[tokio::test]
async fn a_suspect_without_a_baseline_is_shown_on_the_device() {
    let e = env().await;
    let op = e.login("op").await;
    let r = e.get(&format!("/devices/{B1}"), &op).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["suspects"], json!([]));

    let (w, h) = (640u32, 360u32);
    let mut facade = Rgb {
        width: w,
        height: h,
        data: Vec::with_capacity((w * h * 3) as usize),
    };
    for y in 0..h {
        for x in 0..w {
            // Each brick its own shade, not a checkerboard: bricks alternating light and
            // dark make a diagonal lattice, which round 13's slanted-line measure takes for
            // interference lines (a known limit, docs/evaluation.md).
            let brick =
                (((x / 24).wrapping_mul(2_654_435_761) ^ (y / 12).wrapping_mul(40_503)) % 21) as u8;
            let joint = if y % 12 == 0 { 30 } else { 0 };
            facade
                .data
                .extend([190 + brick + joint, 55 + brick + joint, 40 + brick + joint]);
        }
    }
    let jpeg = to_jpeg(&facade, 85);
    // What the monitor's picture probe does with a sampled snapshot and no baseline.
    let thumb = from_jpeg(&jpeg).unwrap();
    let d = diagnose(&thumb, None, None, &Thresholds::default());
    assert_eq!(
        d.suspect_set(),
        FaultSet::of(&[FaultKind::ColorCast]),
        "{d:?}"
    );
    assert!(d.faults.is_empty(), "{d:?}");
    let mut probe = ProbeOutcome::up(ProbeKind::Snapshot);
    probe.picture = Some(PictureVerdict {
        faults: d.fault_set(),
        suspects: d.suspect_set(),
        fingerprint: fingerprint(&thumb),
        still: d.metrics.still,
    });
    let at = e.clock.now().as_second() - 30;
    e.monitor.record_probe(2, ProbeClass::Picture, at, &probe);

    let r = e.get(&format!("/devices/{B1}"), &op).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["suspects"], json!(["color_cast"]), "{}", r.body);
    assert_eq!(r.body["status"], "online", "{}", r.body);
    assert_eq!(r.body["picture"], serde_json::Value::Null, "{}", r.body);
    // Another region's operator sees neither the camera nor its suspects.
    e.user(
        "shushan2",
        camwatch_core::access::Role::Operator,
        "340104",
        None,
    )
    .await;
    let other = e.login("shushan2").await;
    let r = e.get(&format!("/devices/{B1}"), &other).await;
    assert_eq!(r.status, 404, "{}", r.body);
}
