//! `camwatch bench api`: the HTTP API over a register of N devices (a generated city: cameras
//! and NVR channels in many districts, 20 contractors) with a live state of mixed statuses,
//! served on 127.0.0.1:0 from a SQLite store; then the console's requests, each repeated and
//! timed from request to the last byte over loopback (an upper bound of the server's time):
//! device list pages under every sort and filter, deep pages through the cursor, a
//! contractor's and a district's lists, and the fleet summary. Median, p95 and slowest.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camwatch_access::{Accounts, Actor, NewAccount, Policy, TokenSpec};
use camwatch_core::access::{PasswordState, Role, Scope, TokenAccess};
use camwatch_core::cause::Cause;
use camwatch_core::clock::SystemClock;
use camwatch_core::error::{Error, Result};
use camwatch_core::health::Change;
use camwatch_core::history::Status;
use camwatch_core::outcome::FailureKind;
use camwatch_core::registry::generate::generate;
use camwatch_core::secret::{Password, SecretKey};
use camwatch_monitor::MonitorState;
use camwatch_workorder::{Desk, Sla};

/// Timed repetitions of each request.
const RUNS: usize = 60;
/// The bars the API issue sets: a list page's p95 and the summary's.
const PAGE_P95_MS: f64 = 50.0;
const SUMMARY_P95_MS: f64 = 20.0;
const PASSWORD: &str = "Bench!api1";

pub async fn run(count: u64) -> Result<ExitCode> {
    let dir = super::bench::tempfile_dir()?;
    let r = measure(&dir, count).await;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

async fn measure(dir: &std::path::Path, count: u64) -> Result<ExitCode> {
    let store = camwatch_store::connect(
        &format!("sqlite://{}", dir.join("bench.db").display()),
        SecretKey::generate(),
    )
    .await?;
    let devices = generate(count, 1);
    store.upsert_devices(&devices).await?;
    let clock: camwatch_core::clock::SharedClock = Arc::new(SystemClock);
    let now = clock.now().as_second();
    let monitor = Arc::new(MonitorState::for_devices(&devices, now));
    // A city on a bad day: 3 % offline (refused or silent), 1 % unknown, the rest online, each
    // since its own time.
    for i in 0..devices.len() {
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        let (status, cause) = match h % 100 {
            0..=1 => (
                Status::Offline,
                Some(Cause::from_failure(FailureKind::ConnectTimeout)),
            ),
            2 => (
                Status::Offline,
                Some(Cause::from_failure(FailureKind::ConnectionRefused)),
            ),
            3 => continue,
            _ => (Status::Online, None),
        };
        let at = now - (h % 86_400) as i64;
        monitor.note_change(i, &Change { status, at, cause });
    }
    let accounts = Accounts::new(store.clone(), clock.clone(), Policy::default())?;
    let contractor = devices
        .iter()
        .find_map(|d| d.maintainer.clone())
        .ok_or_else(|| Error::internal("the generated register names no maintainer"))?;
    let district = devices[devices.len() / 2].region().to_string();
    let admin = user(&accounts, "bench-admin", Role::Admin, Scope::all()).await?;
    let contractor_token = user(
        &accounts,
        "bench-contractor",
        Role::Contractor,
        Scope::new(Vec::new(), Some(contractor.clone())),
    )
    .await?;
    let district_token = user(
        &accounts,
        "bench-district",
        Role::Operator,
        Scope::new(
            camwatch_core::access::scope::parse_regions(&district).map_err(Error::invalid)?,
            None,
        ),
    )
    .await?;
    let state = camwatch_api::AppState {
        store: store.clone(),
        accounts,
        monitor,
        desk: Desk {
            store: store.clone(),
            sla: Arc::new(Sla::new(store.clone(), None, Vec::new())?),
            announcer: Arc::new(camwatch_workorder::Silent),
        },
        clock,
        secure_cookie: false,
        register: Default::default(),
        reports: None,
        pictures: None,
        ops: camwatch_api::ops::Ops::new(camwatch_monitor::EventBus::new(1024)),
        console: Default::default(),
        patrol: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::internal(format!("bind 127.0.0.1:0: {e}")))?;
    let base = format!(
        "http://{}/api/v1",
        listener
            .local_addr()
            .map_err(|e| Error::internal(e.to_string()))?
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(camwatch_api::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::internal(e.to_string()))?;
    println!(
        "api: {} devices, {RUNS} runs per request, loopback round trip to the last byte",
        devices.len()
    );
    let first = get(&http, &base, "/devices?limit=50", &admin).await?;
    println!(
        "  first page (the register read into memory):  {:>8.1} ms",
        first.0
    );

    let mut worst_page = 0.0f64;
    let lists: [(&str, String, &str); 11] = [
        ("page 1, by code", "/devices?limit=50".into(), &admin),
        (
            "page 1, by name",
            "/devices?limit=50&sort=name".into(),
            &admin,
        ),
        (
            "page 1, worst first",
            "/devices?limit=50&sort=status".into(),
            &admin,
        ),
        (
            "page 1, oldest change first",
            "/devices?limit=50&sort=since".into(),
            &admin,
        ),
        (
            "offline, by name",
            "/devices?limit=50&status=offline&sort=name".into(),
            &admin,
        ),
        (
            "a district's prefix",
            format!("/devices?limit=50&region={district}"),
            &admin,
        ),
        (
            "text search (name)",
            "/devices?limit=50&q=%E8%B7%AF".into(),
            &admin,
        ),
        ("500 rows", "/devices?limit=500&sort=name".into(), &admin),
        (
            "a contractor's own",
            "/devices?limit=50&sort=status".into(),
            &contractor_token,
        ),
        (
            "a district user's own",
            "/devices?limit=50&sort=name".into(),
            &district_token,
        ),
        (
            "page 20 (cursor), by name",
            deep_page(&http, &base, &admin, 19).await?,
            &admin,
        ),
    ];
    for (what, path, token) in &lists {
        let t = timed(&http, &base, path, token).await?;
        worst_page = worst_page.max(t.p95);
        println!("  list  {what:<32} {t}");
    }
    let mut summary_p95 = 0.0f64;
    for (what, token) in [
        ("fleet summary, whole fleet", &admin),
        ("fleet summary, a contractor", &contractor_token),
    ] {
        let t = timed(&http, &base, "/fleet/summary", token).await?;
        summary_p95 = summary_p95.max(t.p95);
        println!("  {what:<38} {t}");
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    let ok = worst_page < PAGE_P95_MS && summary_p95 < SUMMARY_P95_MS;
    println!(
        "list pages p95 ≤ {worst_page:.1} ms (bar {PAGE_P95_MS} ms), summary p95 ≤ {summary_p95:.1} ms (bar {SUMMARY_P95_MS} ms): {}",
        if ok { "within" } else { "OUTSIDE" }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        super::exit::Exit::OutsideBar.into()
    })
}

/// Creates `name` with `scope` and returns a full-access API token of theirs.
async fn user(accounts: &Accounts, name: &str, role: Role, scope: Scope) -> Result<String> {
    let actor = Actor::Cli {
        os_user: "bench".into(),
    };
    accounts
        .create_user(
            &actor,
            &NewAccount {
                name: name.into(),
                role,
                scope,
                password: Some(Password::new(PASSWORD)),
            },
        )
        .await?;
    accounts
        .reset_password(
            &actor,
            name,
            &Password::new(PASSWORD),
            PasswordState::Current,
        )
        .await?;
    Ok(accounts
        .issue_token(
            &actor,
            name,
            &TokenSpec {
                name: format!("{name}-bench"),
                access: TokenAccess::ReadOnly,
                regions: Vec::new(),
                expires_at: None,
            },
        )
        .await?
        .token
        .expose()
        .to_string())
}

/// One GET: (milliseconds to the last byte, body).
async fn get(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
) -> Result<(f64, Vec<u8>)> {
    let t = Instant::now();
    let r = http
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| Error::internal(format!("GET {path}: {e}")))?;
    let status = r.status();
    let body = r
        .bytes()
        .await
        .map_err(|e| Error::internal(format!("GET {path}: {e}")))?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if !status.is_success() {
        return Err(Error::internal(format!(
            "GET {path}: {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    Ok((ms, body.to_vec()))
}

/// The path of page `n + 1` by name, following `n` cursors.
async fn deep_page(http: &reqwest::Client, base: &str, token: &str, n: usize) -> Result<String> {
    let mut path = "/devices?limit=50&sort=name".to_string();
    for _ in 0..n {
        let (_, body) = get(http, base, &path, token).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::internal(e.to_string()))?;
        let next = v["next"]
            .as_str()
            .ok_or_else(|| Error::internal("the list ended before the deep page"))?;
        path = format!("/devices?limit=50&sort=name&cursor={next}");
    }
    Ok(path)
}

struct Timing {
    p50: f64,
    p95: f64,
    max: f64,
    rows: usize,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:>6.1} ms  p95 {:>6.1} ms  max {:>6.1} ms  ({} rows)",
            self.p50, self.p95, self.max, self.rows
        )
    }
}

async fn timed(http: &reqwest::Client, base: &str, path: &str, token: &str) -> Result<Timing> {
    let mut ms = Vec::with_capacity(RUNS);
    let mut rows = 0;
    for _ in 0..RUNS {
        let (t, body) = get(http, base, path, token).await?;
        ms.push(t);
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
            rows = v["items"].as_array().map_or(0, Vec::len);
        }
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    Ok(Timing {
        p50: at(0.5),
        p95: at(0.95),
        max: ms[ms.len() - 1],
        rows,
    })
}
