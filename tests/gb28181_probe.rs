//! `camwatch probe CODE` for GB/T 28181 devices, end to end: the real binary runs `serve` with
//! `[gb28181]` and the API on loopback; two simulated cameras (`camwatch_sim::gb28181`, over
//! real UDP) register to it, one keeps alive, the other stops after a few seconds. `camwatch
//! probe CODE`, asking the node with an API token, must explain each: registered, the last
//! keepalive and the rule, the catalog; and for the silent one that its keepalives stopped,
//! with the time of the last one. The API's device detail carries the same `sip` object.
//!
//! Waits are bounded polls (of serve's log and of probe's answer), never timed assertions.

mod gb_serve;
mod serve;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::{Clock, SystemClock};
use camwatch_sim::gb28181::{GbFleet, device_code};

/// `camwatch probe CODE --api BASE` with the token in the environment.
fn probe(dir: &Path, base: &str, token: &str, code: &str) -> Output {
    serve::camwatch(dir)
        .args(["probe", code, "--api", base, "--deadline", "5"])
        .env("CAMWATCH_API_TOKEN", token)
        .output()
        .unwrap()
}

/// Polls `probe` until its stdout satisfies `done` (at most a minute).
async fn probe_until(
    dir: &Path,
    base: &str,
    token: &str,
    code: &str,
    done: impl Fn(&str) -> bool,
) -> Output {
    let mut last = None;
    for _ in 0..300 {
        let out = probe(dir, base, token, code);
        if done(&String::from_utf8_lossy(&out.stdout)) {
            return out;
        }
        last = Some(out);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = last.unwrap();
    panic!(
        "probe {code} never said it: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_explains_a_gb_devices_registration_keepalives_and_catalog() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    serve::config(
        dir,
        "[gb28181]\nenabled = true\nudp_listen = \"127.0.0.1:0\"\ntcp_listen = \"127.0.0.1:0\"\n\
         keepalive_interval_sec = 1\nkeepalive_misses = 3\ncatalog_subscription_sec = 0\n\
         picture_invites = false\n",
    );
    let (alive, dying) = (device_code(0, 0), device_code(1, 0));
    std::fs::write(
        dir.join("register.csv"),
        format!(
            "code,name,kind,parent,password\n{alive},Gate,camera,,12345678\n\
             {dying},Yard,camera,,12345678\n"
        ),
    )
    .unwrap();
    serve::run(
        dir,
        &[
            "device",
            "import",
            dir.join("register.csv").to_str().unwrap(),
        ],
        "",
    );
    serve::add_user(dir, "ops", "admin", &[], "Camw4tch!", true);
    let token = serve::run(
        dir,
        &["user", "token", "issue", "ops", "--name", "probe"],
        "",
    );
    let token = token.trim().to_string();
    let (mut serve_child, addr) = serve::start(dir).await;
    let base = format!("http://{addr}");
    // Waited for: the API answers before serve logs its platform's line.
    let udp = gb_serve::platform_address(&mut serve_child, dir).await;

    // Before anything registers, the platform has not heard of them: down, exit status 4.
    let out = probe(dir, &base, &token, alive.as_str());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(text.contains("has not heard of it"), "{text}");

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now().as_second();
    let (sim_stop, sim_stopped) = tokio::sync::watch::channel(false);
    let fleet = |seed: u32, dies_at: Option<i64>| GbFleet {
        platform: udp,
        devices: 1,
        keepalive_sec: 1,
        seed,
        dies_at,
        ..Default::default()
    };
    let _alive = camwatch_sim::gb28181::start(&fleet(0, None), clock.clone(), sim_stopped.clone())
        .await
        .unwrap();
    let _dying = camwatch_sim::gb28181::start(&fleet(1, Some(now + 4)), clock, sim_stopped)
        .await
        .unwrap();

    // The live one: registered over UDP, keeping alive under the configured rule, its catalog in.
    let out = probe_until(dir, &base, &token, alive.as_str(), |t| {
        t.contains("catalog: complete") && t.contains("last keepalive at")
    })
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("registration: registered over udp from 127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("expected every 1 s, offline after 3 missed"),
        "{text}"
    );
    assert!(text.contains("1 of 1 channel(s) in 1 message(s)"), "{text}");
    assert!(text.contains("verdict: up"), "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}");

    // The silent one: its keepalives stopped, with the time of the last one.
    let out = probe_until(dir, &base, &token, dying.as_str(), |t| {
        t.contains("KEEPALIVES STOPPED")
    })
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("offline since 20"), "{text}");
    assert!(text.contains("last keepalive at 20"), "{text}");
    assert!(text.contains("verdict: sip no_answer"), "{text}");
    assert_eq!(out.status.code(), Some(4), "{text}");

    // The API's live state carries the same facts.
    let detail: serde_json::Value = serde_json::from_slice(
        &reqwest::Client::new()
            .get(format!("{base}/api/v1/devices/{dying}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(detail["sip"]["presence"], "keepalive_lost", "{detail}");
    assert_eq!(detail["sip"]["transport"], "udp", "{detail}");
    assert_eq!(detail["sip"]["keepalive_misses"], 3, "{detail}");
    assert!(detail["sip"]["last_keepalive"].is_i64(), "{detail}");
    assert_eq!(detail["sip"]["catalog"]["channels"], 1, "{detail}");

    // Without a token the node is not asked in vain: the error names the variable.
    let out = serve::camwatch(dir)
        .args(["probe", alive.as_str(), "--api", &base])
        .env_remove("CAMWATCH_API_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CAMWATCH_API_TOKEN"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    sim_stop.send(true).unwrap();
    serve::stop(serve_child, dir);
}
