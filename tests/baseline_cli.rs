//! `camwatch baseline approve` end to end: the real binary fetching the simulator's snapshots
//! and NVR channels' keyframes over loopback for a register on SQLite. Healthy pictures are approved, a blurred camera's
//! is left for review (and approved only with --force), an offline camera is reported, and
//! every approval is in the audit log.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use camwatch_core::clock::{Clock, SystemClock};
use camwatch_core::registry::generate::Shape;
use camwatch_core::secret::SecretKey;
use camwatch_sim::{BindMode, FaultPlan, SimConfig};

const SEED: u64 = 31;
const CHANNELS: u64 = 60;
const KEY: [u8; 32] = [7; 32];

fn base() -> Ipv4Addr {
    let mut b = [0u8; 2];
    getrandom::fill(&mut b).unwrap();
    Ipv4Addr::new(127, 64 + b[0] % 128, b[1], 1)
}

fn camwatch(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_camwatch"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env("CAMWATCH_SECRET_KEY", hex::encode(KEY))
        .env_remove("CAMWATCH_DB")
        .env_remove("CAMWATCH_CONFIG")
        .output()
        .expect("run camwatch")
}

/// Runs the binary off the runtime the simulator serves on.
async fn run(data: &Path, args: &[&str]) -> (bool, String, String) {
    let (data, args) = (
        data.to_path_buf(),
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    let o = tokio::task::spawn_blocking(move || {
        camwatch(&data, &args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn approved(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join("baselines"))
        .map(|rd| {
            rd.filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".jpg").map(str::to_string)
            })
            .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_all_takes_normal_pictures_and_leaves_the_rest_for_review() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let devices = camwatch_core::registry::generate::generate(CHANNELS, SEED);
    let cams: Vec<String> = devices
        .iter()
        .filter(|d| d.parent.is_none() && !d.kind.is_parent() && d.snapshot_url.is_some())
        .map(|d| d.code.to_string())
        .collect();
    let fault = |code: &str, kind: &str| {
        format!(
            "[[fault]]\ndevice = \"{code}\"\nkind = \"{kind}\"\nstart = \"0s\"\nduration = \"1d\"\n"
        )
    };
    let (blurred, offline) = (&cams[0], &cams[1]);
    let fleet = camwatch_sim::start(
        SimConfig {
            shape: Shape::Mix { channels: CHANNELS },
            seed: SEED,
            bind: BindMode::OnePort { ip: base() },
            faults: FaultPlan::Schedule(
                fault(blurred, "blur") + &fault(offline, "offline"),
                "t.toml".into(),
            ),
            horizon_sec: 86_400,
        },
        clock,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = camwatch_store::connect(
        &format!("sqlite://{}", dir.path().join("camwatch.db").display()),
        SecretKey::from_bytes(KEY),
    )
    .await
    .unwrap();
    store.upsert_devices(fleet.devices()).await.unwrap();
    // Cameras by their snapshot, NVR channels by their stream's first keyframe.
    let with_picture: BTreeSet<String> = fleet
        .devices()
        .iter()
        .filter(|d| !d.kind.is_parent())
        .map(|d| d.code.to_string())
        .collect();
    assert!(
        fleet
            .devices()
            .iter()
            .any(|d| d.parent.is_some() && d.snapshot_url.is_none())
    );

    let (ok, out, err) = run(dir.path(), &["baseline", "approve", "--all"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!("{blurred}: left for review: reads as blur")),
        "{out}"
    );
    assert!(out.contains(&format!("{offline}: no picture")), "{out}");
    let mut healthy = with_picture.clone();
    healthy.remove(blurred);
    healthy.remove(offline);
    assert_eq!(approved(dir.path()), healthy, "{out}");
    assert!(out.contains(&format!(
        "approved {}; left for review 1; no picture 1",
        healthy.len()
    )));
    let audited = |entries: &[camwatch_store::AuditEntry]| {
        entries
            .iter()
            .filter(|e| e.action == "baseline.approve")
            .map(|e| e.target.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(audited(&store.recent_audit(1000).await.unwrap()), healthy);

    // One camera: a blurred picture is refused, naming why, until the operator insists.
    let (ok, _, err) = run(dir.path(), &["baseline", "approve", blurred]).await;
    assert!(
        !ok && err.contains("blur") && err.contains("--force"),
        "{err}"
    );
    assert!(!approved(dir.path()).contains(blurred));
    let (ok, out, err) = run(dir.path(), &["baseline", "approve", blurred, "--force"]).await;
    assert!(ok && out.contains("reads as blur"), "{out}\n{err}");
    let last = store.recent_audit(1).await.unwrap();
    assert_eq!(last[0].target, *blurred);
    assert!(last[0].detail.contains("blur"), "{:?}", last[0]);

    // Again: what is approved stays; the offline camera is still reported.
    let (ok, out, _) = run(dir.path(), &["baseline", "approve", "--all"]).await;
    let kept = healthy.len() + 1;
    assert!(
        ok && out.contains(&format!(
            "approved 0; left for review 0; no picture 1; already approved {kept}"
        )),
        "{out}"
    );
    let (ok, _, err) = run(dir.path(), &["baseline", "approve", "34010400001329999999"]).await;
    assert!(!ok && err.contains("not in the register"), "{err}");

    // A night picture is kept beside the day one.
    let cam = healthy.iter().next().unwrap();
    let (ok, out, err) = run(dir.path(), &["baseline", "approve", cam, "--night"]).await;
    assert!(ok, "{out}\n{err}");
    let night = dir
        .path()
        .join("baselines")
        .join(format!("{cam}.night.jpg"));
    assert!(
        night.exists()
            && dir
                .path()
                .join("baselines")
                .join(format!("{cam}.jpg"))
                .exists()
    );
    fleet.shutdown().await;
}

/// `--all` on an empty register says so and how to fill it, and fails, instead of printing a
/// row of zeros that reads as "nothing needed approving".
#[test]
fn approve_all_on_an_empty_register_says_it_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let out = camwatch(dir.path(), &["baseline", "approve", "--all"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("the register has no devices"), "{stderr}");
    assert!(stderr.contains("camwatch device import FILE"), "{stderr}");
    assert!(!stdout.contains("approved 0"), "{stdout}");
    assert!(!dir.path().join("baselines").exists());
}
