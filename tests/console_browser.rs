//! The web console in a real browser: headless Chromium (Debian `chromium`) driven over
//! WebDriver (`chromium-driver`, the `fantoccini` crate), against `camwatch serve` started as
//! a child on loopback port 0 with a generated register whose cameras nothing answers for
//! (so they all go red) and users of every role made with `camwatch user`.
//!
//! It signs in as each role (the admin through the forced password change), checks the
//! dashboard's numbers against the API and on the wall display, filters the device list,
//! opens a red camera's page and sees its cause and the failing probe step, opens a work
//! order (operator) that the contractor accepts on the board, completes a patrol batch (two
//! channels normal, one fault that opens a work order), downloads a report, reads the map's
//! points, and checks that a contractor reaching another contractor's device by URL is told
//! it does not exist.
//! Screenshots of every page go to `CARGO_TARGET_TMPDIR/console-screens/`.
//!
//! Skipped (with what to install) without chromium and chromedriver, unless
//! CAMWATCH_REQUIRE_PEERS=1.

mod browser;
mod common;
mod serve;

use std::path::Path;
use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};

use browser::{Driver, browser, go, peers, shot, sign_in, text_when, wait_for};

use camwatch_core::registry::export::to_csv;

const PASSWORD: &str = "Camw4tch!";
const NEW_ADMIN_PASSWORD: &str = "Camw4tch!2";

/// The API as the test sees it, with a full-access token of the admin.
struct Api {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Api {
    async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    }
}

fn config(dir: &Path) {
    // The example contract without its working calendar: every day is a working day, so the
    // patrol has a batch whatever day the test runs on (the calendar's own rules are tested
    // in camwatch_core::patrol).
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/example-98.toml"),
    )
    .unwrap();
    let cut = example
        .find("[calendar]")
        .expect("the example has a calendar");
    let contract = dir.join("contract.toml");
    std::fs::write(&contract, &example[..cut]).unwrap();
    std::fs::write(
        dir.join("camwatch.toml"),
        format!(
            "[data]\ndir = \"{}\"\n[scheduler]\ndeadline_ms = 1000\nconfirm_failures = 1\nliveness_interval_sec = 8\n\
             [api]\nlisten = \"127.0.0.1:0\"\n[log]\nfilter = \"info,sqlx=warn\"\n\
             [contract]\nfile = \"{}\"\n[workorders]\nenabled = false\n",
            dir.display(),
            contract.display()
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_for_every_role_in_a_real_browser() {
    if !peers() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    config(dir);
    let register = camwatch_core::registry::generate::generate(40, 5);
    std::fs::write(dir.join("register.csv"), to_csv(&register, true)).unwrap();
    let reg = dir.join("register.csv");
    serve::run(dir, &["device", "import", reg.to_str().unwrap()], "");
    // Two contractors: one signs in, the other's device must stay out of its reach.
    let cam = |m: &str| {
        register
            .iter()
            .find(|d| {
                !d.kind.is_parent() && d.parent.is_none() && d.maintainer.as_deref() == Some(m)
            })
            .map(|d| d.code.to_string())
    };
    let mine_maintainer = register[0].maintainer.clone().unwrap();
    let other = register
        .iter()
        .find(|d| d.maintainer.as_deref() != Some(&mine_maintainer))
        .unwrap();
    let other_code = other.code.to_string();
    let red = cam(&mine_maintainer).expect("a camera of the first contractor");
    let add = |name: &str, role: &str, extra: &[&str], ready: bool| {
        serve::add_user(dir, name, role, extra, PASSWORD, ready)
    };
    add("boss", "admin", &[], false);
    add("wang", "operator", &[], true);
    add("li", "auditor", &[], true);
    add(
        "anshi",
        "contractor",
        &["--maintainer", &mine_maintainer],
        true,
    );
    let token = serve::run(
        dir,
        &[
            "user", "token", "issue", "wang", "--name", "test", "--access", "full",
        ],
        "",
    );
    let token = token
        .split_whitespace()
        .find(|w| w.starts_with("cwt_"))
        .expect("a token in the output")
        .to_string();

    let (serve_child, addr) = serve::start(dir).await;
    let root = format!("http://{addr}/");
    let api = Api {
        base: format!("http://{addr}/api/v1"),
        http: reqwest::Client::new(),
        token,
    };
    // Nothing answers for the generated cameras: wait until every point is observed (bounded).
    let mut summary = Value::Null;
    for _ in 0..300 {
        summary = api.get("/fleet/summary").await;
        if summary["total"]["unknown"] == 0 && summary["total"]["offline"].as_u64() > Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(summary["total"]["unknown"], 0, "{summary}");

    let driver = Driver::start(dir);
    let c = browser(driver.1).await;

    // The admin: a password set for them must be changed first.
    sign_in(&c, &root, "boss", PASSWORD).await;
    let change = wait_for(&c, "#change-password").await;
    for (field, v) in [
        ("current", PASSWORD),
        ("new", NEW_ADMIN_PASSWORD),
        ("again", NEW_ADMIN_PASSWORD),
    ] {
        change
            .find(Locator::Css(&format!("input[name={field}]")))
            .await
            .unwrap()
            .send_keys(v)
            .await
            .unwrap();
    }
    shot(&c, "change-password").await;
    change
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The dashboard's figures are the API's (the fleet is steady: every camera is down).
    let points = summary["total"]["points"].as_u64().unwrap().to_string();
    text_when(&c, "#card-points .value", |t| t == points).await;
    let offline = summary["total"]["offline"].as_u64().unwrap().to_string();
    text_when(&c, "#card-offline .value", |t| t == offline).await;
    let rate = match summary["total"]["online_rate"].as_f64() {
        Some(r) => format!("{:.2}%", r * 100.0),
        None => "—".into(),
    };
    text_when(&c, "#card-online-rate .value", |t| t == rate).await;
    let regions = summary["regions"].as_array().unwrap();
    let rows = c.find_all(Locator::Css("#regions tbody tr")).await.unwrap();
    assert_eq!(rows.len(), regions.len());
    text_when(&c, "#card-online-rate .note", |t| t.contains("98%")).await;
    // Today's and the month's figures, from the report's engine: the same as the API's.
    let today = api.get("/fleet/figures?period=today").await;
    let want = match today["fleet"]["online_rate"].as_f64() {
        Some(r) => format!("{:.2}%", r * 100.0),
        None => "—".into(),
    };
    text_when(&c, "#card-today-online .value", |t| t == want).await;
    let rows = c
        .find_all(Locator::Css("#figures-contractors tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), today["contractors"].as_array().unwrap().len());
    // Chinese by default.
    text_when(&c, "#nav-devices", |t| t == "设备").await;
    shot(&c, "dashboard").await;

    // The wall display: the same figures, large, without the navigation.
    c.find(Locator::Css("#wall-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_when(&c, "#wall-points .value", |t| t == points).await;
    text_when(&c, "#wall-online-rate .value", |t| t == rate).await;
    wait_for(&c, "#wall-regions canvas").await;
    let header = c.find(Locator::Css("header.top")).await.unwrap();
    assert!(!header.is_displayed().await.unwrap(), "no navigation");
    shot(&c, "wall").await;
    c.find(Locator::Css("#wall-exit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "#card-points").await;
    assert!(
        c.find(Locator::Css("header.top"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );

    // Devices, filtered to the offline ones: every row is offline, as many as the API says.
    go(&c, &root, "devices?status=offline").await;
    wait_for(&c, "#devices tbody tr").await;
    let want = api.get("/devices?status=offline&limit=500").await;
    let want = want["items"].as_array().unwrap().len();
    text_when(&c, "#device-count", |t| t.contains(&want.to_string())).await;
    let shown = c
        .find_all(Locator::Css("#devices tbody tr.st-offline"))
        .await
        .unwrap();
    assert_eq!(shown.len(), want);
    let csv = c
        .find(Locator::Css("#export-csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        csv.contains("status=offline") && csv.contains("format=csv"),
        "{csv}"
    );
    shot(&c, "devices").await;

    // The map has every point with coordinates.
    go(&c, &root, "map").await;
    let want = api.get("/map/points").await;
    let n = want["codes"].as_array().unwrap().len();
    assert!(n > 0);
    let mut seen = None;
    for _ in 0..100 {
        if let Ok(el) = c.find(Locator::Css("#map")).await {
            seen = el.attr("data-points").await.unwrap();
            if seen.is_some() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shot(&c, "map").await;
    let page = c
        .execute(
            "return [document.body.innerText, window.pageErrors]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(seen, Some(n.to_string()), "{page}");
    // The charts and the map ran under the Content-Security-Policy without a violation.
    let blocked = c
        .execute("return window.cspViolations", vec![])
        .await
        .unwrap();
    assert_eq!(blocked, json!([]), "blocked by the CSP");

    // Reports download as the admin (unscoped).
    go(&c, &root, "reports").await;
    wait_for(&c, "#report-csv").await;
    let got = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.querySelector('#report-csv').href, {credentials: 'same-origin'})
               .then(r => r.text().then(b => done([r.status, r.headers.get('content-type'), b.length])))
               .catch(e => done([0, String(e), 0]));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(got[0], 200, "{got}");
    assert!(got[1].as_str().unwrap().starts_with("text/csv"), "{got}");
    assert!(got[2].as_u64().unwrap() > 100, "{got}");
    shot(&c, "reports").await;
    go(&c, &root, "admin").await;
    text_when(&c, "#audit-log", |t| t.contains("user.password")).await;
    shot(&c, "admin").await;

    // The operator opens a red camera's page: its cause in words and the failing step.
    sign_in(&c, &root, "wang", PASSWORD).await;
    wait_for(&c, "#card-points").await;
    go(&c, &root, &format!("device/{red}")).await;
    let detail = api.get(&format!("/devices/{red}")).await;
    assert_eq!(detail["status"], "offline", "{detail}");
    let raw = detail["cause"].as_str().unwrap().to_string();
    text_when(&c, "#cause", |t| t.contains(&raw)).await;
    text_when(&c, "#why", |t| t.contains("离线")).await;
    text_when(&c, "#probes", |t| !t.is_empty()).await;
    wait_for(&c, "#timeline-bar .seg.offline").await;
    shot(&c, "device").await;
    // Approving the baseline is a well-formed request: with no evidence frame yet, the server
    // says there is none (not a refused body).
    c.find(Locator::Css("#approve-baseline"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_when(&c, "#approve-result", |t| t.contains("暂无图像")).await;
    let form = wait_for(&c, "#open-order").await;
    form.find(Locator::Css("input[name=title]"))
        .await
        .unwrap()
        .send_keys("浏览器测试")
        .await
        .unwrap();
    form.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_when(&c, "#device-orders", |t| t.contains("浏览器测试")).await;
    let orders = api.get("/work-orders?open=true").await;
    let order = orders["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["subject"] == red.as_str())
        .expect("the order just opened")
        .clone();
    assert_eq!(order["state"], "pending");
    let id = order["id"].as_i64().unwrap();

    // The operator completes a patrol batch: two channels normal, one a fault, which opens a
    // work order.
    go(&c, &root, "patrol").await;
    wait_for(&c, "#wall .tile").await;
    let today = api.get("/patrol/today").await;
    let batch: Vec<String> = today["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap().to_string())
        .filter(|c| *c != red)
        .collect();
    assert!(batch.len() >= 3, "{today}");
    text_when(&c, "#patrol-progress", |t| {
        t.contains(&format!("0 / {}", today["required"]))
    })
    .await;
    for code in &batch[..2] {
        c.find(Locator::Css(&format!("#tile-{code} button.act-normal")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for(&c, &format!("#tile-{code}.done.normal")).await;
    }
    let faulty = &batch[2];
    c.execute(
        "document.querySelector(arguments[0]).value = 'blur'",
        vec![json!(format!("#tile-{faulty} select[name=finding]"))],
    )
    .await
    .unwrap();
    c.find(Locator::Css(&format!("#tile-{faulty} input[name=note]")))
        .await
        .unwrap()
        .send_keys("镜头起雾")
        .await
        .unwrap();
    c.find(Locator::Css(&format!("#tile-{faulty} button.act-fault")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, &format!("#tile-{faulty}.done.fault")).await;
    text_when(&c, "#patrol-progress", |t| t.contains("3 /")).await;
    text_when(&c, "#patrol-error", |t| t.contains("#")).await;
    shot(&c, "patrol").await;
    let after = api.get("/patrol/today").await;
    assert_eq!(
        (after["recorded"].as_u64(), after["faults"].as_u64()),
        (Some(3), Some(1)),
        "{after}"
    );
    let tile = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == faulty.as_str())
        .unwrap()
        .clone();
    assert_eq!(tile["record"]["finding"], "blur", "{tile}");
    assert_eq!(tile["record"]["patroller"], "wang", "{tile}");
    let patrol_order = tile["record"]["work_order"].as_i64().expect("a work order");
    let o = api.get(&format!("/work-orders/{patrol_order}")).await;
    assert_eq!(o["order"]["state"], "pending", "{o}");
    assert_eq!(o["order"]["subject"], faulty.as_str(), "{o}");

    // The contractor accepts it on the board, and cannot reach another's device by URL.
    sign_in(&c, &root, "anshi", PASSWORD).await;
    wait_for(&c, "#card-points").await;
    go(&c, &root, "work-orders").await;
    let card = wait_for(&c, &format!("#col-pending #order-{id}")).await;
    shot(&c, "work-orders").await;
    card.find(Locator::Css("button.act-accept"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, &format!("#col-accepted #order-{id}")).await;
    let after = api.get(&format!("/work-orders/{id}")).await;
    assert_eq!(after["order"]["state"], "accepted", "{after}");
    go(&c, &root, &format!("device/{other_code}")).await;
    text_when(&c, "#device-error", |t| t.contains("不在您的权限范围内")).await;
    shot(&c, "contractor-other-device").await;
    // Its own list holds only its maintainer's devices.
    go(&c, &root, "devices").await;
    wait_for(&c, "#devices tbody tr").await;
    let codes: Vec<String> = c
        .execute(
            "return [...document.querySelectorAll('#devices tbody tr')].map(r => r.dataset.code)",
            vec![],
        )
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(!codes.contains(&other_code));
    assert!(codes.contains(&red));

    // The auditor reads, changes nothing: no import, no actions, the audit log.
    sign_in(&c, &root, "li", PASSWORD).await;
    wait_for(&c, "#card-points").await;
    go(&c, &root, &format!("device/{red}")).await;
    wait_for(&c, "#why").await;
    assert!(c.find(Locator::Css("#open-order")).await.is_err());
    go(&c, &root, "devices").await;
    wait_for(&c, "#devices tbody tr").await;
    assert!(c.find(Locator::Css("#import-file")).await.is_err());
    assert!(
        c.find(Locator::Css("#nav-patrol")).await.is_err(),
        "auditors do not patrol"
    );
    go(&c, &root, "admin").await;
    text_when(&c, "#audit-log", |t| t.contains("workorder")).await;
    // English on request.
    c.find(Locator::Css("#lang"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_when(&c, "#nav-devices", |t| t == "Devices").await;
    shot(&c, "auditor-admin-en").await;

    c.close().await.unwrap();
    drop(driver);
    serve::stop(serve_child, dir);
}
