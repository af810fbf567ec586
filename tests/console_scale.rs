//! The web console with a large fleet, in a real browser (headless Chromium over WebDriver):
//! a generated register of `CAMWATCH_CONSOLE_DEVICES` channels (100,000 when unset) served by
//! `camwatch serve`, signed in as the video team.
//!
//! It measures, and prints, what a user feels:
//! - **the dashboard's time to interactive** on a fresh load: from the navigation's start to
//!   the later of the page having drawn its figures (the console's `camwatch:ready:dashboard`
//!   User Timing mark) and the end of the last task that held the main thread over 50 ms (the
//!   browser's Long Tasks API), i.e. when a click is answered at once;
//! - **the map while it is dragged**: every point loaded and clustered, then the map dragged
//!   with the mouse (WebDriver pointer actions, as a user's hand) at the city view and three
//!   zoom steps in, while `requestAnimationFrame` records every frame of the drags (not of the
//!   zooming): frames drawn, the 95th percentile and longest frame, frames over 100 ms (a stall
//!   a user sees).
//!
//! The figures go to the README's performance table; the test asserts only what must hold at
//! any speed (the dashboard counts every point, the map holds every point, frames were drawn,
//! no page error), not times: a timed assertion fails on a busy machine, not on slow code.
//!
//! Skipped (with what to install) without chromium and chromedriver, unless
//! CAMWATCH_REQUIRE_PEERS=1.

mod browser;
mod common;
mod serve;

use std::path::Path;
use std::time::Duration;

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, Locator};
use serde_json::Value;

use browser::{Driver, browser, peers, shot, sign_in, wait_for};
use camwatch_core::registry::export::to_csv;

const PASSWORD: &str = "Camw4tch!";

fn config(dir: &Path) {
    // Nothing answers for the generated cameras (loopback addresses, closed ports): a long
    // interval keeps the server's probing of 100,000 of them from dominating the machine.
    std::fs::write(
        dir.join("camwatch.toml"),
        format!(
            "[data]\ndir = \"{}\"\n[scheduler]\ndeadline_ms = 1000\nliveness_interval_sec = 600\n\
             [api]\nlisten = \"127.0.0.1:0\"\n[log]\nfilter = \"info,sqlx=warn\"\n\
             [contract]\nfile = \"{}\"\n[workorders]\nenabled = false\n",
            dir.display(),
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("contracts/example-98.toml")
                .display()
        ),
    )
    .unwrap();
}

/// Waits (bounded: `secs`) until `script` returns something other than null or false.
async fn until(c: &Client, script: &str, secs: u64) -> Value {
    for _ in 0..secs * 5 {
        let v = c.execute(script, vec![]).await.unwrap();
        if !v.is_null() && v != Value::Bool(false) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never true within {secs} s: {script}");
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Drags the map by (`dx`, `dy`) in `steps` mouse moves of about one frame each.
async fn drag(c: &Client, map: &fantoccini::elements::Element, dx: f64, dy: f64, steps: u32) {
    let mut a = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: map.clone(),
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        });
    for _ in 0..steps {
        a = a.then(PointerAction::MoveBy {
            duration: Some(Duration::from_millis(16)),
            x: dx / f64::from(steps),
            y: dy / f64::from(steps),
        });
    }
    a = a.then(PointerAction::Up {
        button: MOUSE_BUTTON_LEFT,
    });
    c.perform_actions(a).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_stays_interactive_with_a_large_fleet() {
    if !peers() {
        return;
    }
    let n: u64 = std::env::var("CAMWATCH_CONSOLE_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    config(dir);
    let register = camwatch_core::registry::generate::generate(n, 11);
    let reg = dir.join("register.csv");
    std::fs::write(&reg, to_csv(&register, true)).unwrap();
    serve::run(dir, &["device", "import", reg.to_str().unwrap()], "");
    serve::add_user(dir, "wang", "operator", &[], PASSWORD, true);
    let points = register.iter().filter(|d| !d.kind.is_parent()).count();
    // The map shows every device with a position, NVRs included.
    let placed = register
        .iter()
        .filter(|d| d.longitude.is_some() && d.latitude.is_some())
        .count();

    let (serve_child, addr) = serve::start(dir).await;
    let root = format!("http://{addr}/");
    let driver = Driver::start(dir);
    let c = browser(driver.1).await;
    sign_in(&c, &root, "wang", PASSWORD).await;
    wait_for(&c, "#card-points").await;

    // The dashboard, loaded afresh with the session already open.
    c.refresh().await.unwrap();
    let ready = until(
        &c,
        "const m = performance.getEntriesByName('camwatch:ready:dashboard'); \
         return m.length ? m[0].startTime : null;",
        120,
    )
    .await;
    // A quiet moment for any task the drawing left behind, then the longest-lasting one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tasks = c
        .execute(
            "return [window.longTasks.length, \
             window.longTasks.reduce((a, [s, d]) => Math.max(a, s + d), 0), \
             window.longTasks.reduce((a, [, d]) => Math.max(a, d), 0), \
             'PerformanceObserver' in window && \
             PerformanceObserver.supportedEntryTypes.includes('longtask')];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(tasks[3], Value::Bool(true), "the Long Tasks API is missing");
    let interactive = f(&ready).max(f(&tasks[1]));
    let shown = c
        .find(Locator::Css("#card-points .value"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        shown.replace([',', ' '], ""),
        points.to_string(),
        "the dashboard counts every point"
    );
    shot(&c, &format!("scale-{n}-dashboard")).await;

    // The map: every placed point loaded and clustered.
    let asked = c
        .execute("location.hash = '#/map'; return performance.now();", vec![])
        .await
        .unwrap();
    let loaded = until(
        &c,
        "const m = performance.getEntriesByName('camwatch:ready:map'); \
         const el = document.getElementById('map'); \
         return m.length && el && el.dataset.points ? [Number(el.dataset.points), m[0].startTime] : null;",
        240,
    )
    .await;
    assert_eq!(
        loaded[0].as_u64(),
        Some(placed as u64),
        "every point is on the map"
    );
    let map_ready = f(&loaded[1]) - f(&asked);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Drags at the city view, then (after zooming in) closer in, every frame recorded while
    // the map is dragged; the zoom itself (clusters recomputed) is not a pan.
    let mut pans = Vec::new();
    for (zoom_in, moves) in [
        (
            0,
            [(300.0, 0.0), (0.0, 200.0), (-300.0, 0.0), (0.0, -200.0)],
        ),
        (
            3,
            [
                (250.0, 150.0),
                (-250.0, -150.0),
                (150.0, -100.0),
                (-150.0, 100.0),
            ],
        ),
    ] {
        for _ in 0..zoom_in {
            c.find(Locator::Css(".leaflet-control-zoom-in"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        c.execute(
            "window.frames_ = []; window.recording_ = true; \
             const tick = (t) => { window.frames_.push(t); if (window.recording_) requestAnimationFrame(tick); }; \
             requestAnimationFrame(tick); return true;",
            vec![],
        )
        .await
        .unwrap();
        let map = c.find(Locator::Css("#map")).await.unwrap();
        for (dx, dy) in moves {
            drag(&c, &map, dx, dy, 30).await;
        }
        let frames = c
            .execute(
                "window.recording_ = false; const f = window.frames_; const d = []; \
                 for (let i = 1; i < f.length; i++) d.push(f[i] - f[i - 1]); \
                 d.sort((a, b) => a - b); \
                 return [d.length, d.length ? d[Math.min(d.length - 1, Math.floor(d.length * 0.95))] : 0, \
                         d.length ? d[d.length - 1] : 0, d.filter((x) => x > 100).length, \
                         window.pageErrors];",
                vec![],
            )
            .await
            .unwrap();
        assert!(frames[0].as_u64() > Some(10), "frames were drawn: {frames}");
        assert_eq!(frames[4], Value::Array(vec![]), "page errors");
        pans.push(frames);
    }
    shot(&c, &format!("scale-{n}-map")).await;

    println!(
        "console at {n} channels ({points} points, {placed} on the map): dashboard interactive \
         {interactive:.0} ms after navigation (drawn at {:.0} ms; {} long tasks, the longest \
         {:.0} ms); map: {placed} points loaded and clustered in {map_ready:.0} ms",
        f(&ready),
        tasks[0],
        f(&tasks[2]),
    );
    for (what, p) in ["at the city view", "three zoom steps in"]
        .iter()
        .zip(&pans)
    {
        println!(
            "map dragged {what}: {} frames, p95 {:.1} ms, longest {:.1} ms, {} over 100 ms",
            p[0],
            f(&p[1]),
            f(&p[2]),
            p[3]
        );
    }
    c.close().await.unwrap();
    drop(driver);
    serve::stop(serve_child, dir);
}
