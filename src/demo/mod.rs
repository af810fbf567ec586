//! `camwatch demo`: a simulated fleet, the monitor watching it, a live view, and the period's
//! report on exit. Everything is the production code path (simulator over loopback sockets,
//! real probes, scheduler, health, SQLite store, report); only the clock is scaled.

pub mod console;
pub mod view;

use std::io::IsTerminal;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use camwatch_core::clock::{Clock, ScaledClock};
use camwatch_core::contract::Contract;
use camwatch_core::error::{Error, Result};
use camwatch_core::registry::export::to_csv;
use camwatch_core::secret::SecretKey;
use camwatch_monitor::{MonitorConfig, MonitorState};
use camwatch_report::Period;
use camwatch_report::render::{Format, Lang, render};
use camwatch_sim::{BindMode, FaultPlan, Preset, SimConfig};
use camwatch_store::DeviceFilter;
use view::{LiveStats, Phase};

const CONTRACT: &str = include_str!("../../contracts/example-98.toml");

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub data_dir: Option<PathBuf>,
    pub channels: u64,
    pub time_scale: f64,
    /// Stop after this long (real time); otherwise at Ctrl-C.
    pub duration: Option<Duration>,
    pub seed: u64,
    pub fault_mix: Preset,
    /// Full-screen view (a terminal) or summary lines.
    pub tui: Option<bool>,
    /// Where the web console listens (loopback; another free port when taken).
    pub listen: String,
}

fn fresh_dir() -> Result<PathBuf> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|e| Error::internal(e.to_string()))?;
    Ok(std::env::temp_dir().join(format!("camwatch-demo-{}", hex::encode(b))))
}

/// A 127.16–31.x.1 base: the demo's own corner of loopback, different per run.
fn sim_base() -> Ipv4Addr {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    Ipv4Addr::new(127, 16 + b[0] % 16, b[1], 1)
}

fn log_to(dir: &Path) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("camwatch.log"))
        .map_err(|e| Error::invalid(format!("{}: {e}", dir.join("camwatch.log").display())))?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,retina=warn".into()),
        )
        .try_init();
    Ok(())
}

pub async fn run(o: DemoOptions) -> Result<std::process::ExitCode> {
    let dir = match &o.data_dir {
        Some(d) => d.clone(),
        None => fresh_dir()?,
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::invalid(format!("{}: {e}", dir.display())))?;
    log_to(&dir)?;
    println!(
        "camwatch demo: data directory {} (log: camwatch.log)",
        dir.display()
    );

    let origin = jiff::Timestamp::now();
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(origin, o.time_scale));
    let key =
        SecretKey::load(&dir.join("secret.key")).map_err(|e| Error::invalid(e.to_string()))?;
    let store = camwatch_store::connect(
        &format!("sqlite://{}", dir.join("camwatch.db").display()),
        key,
    )
    .await?;
    // Before the simulator and the import: a demo pointed (--data) at a database another
    // monitor is using must leave it alone.
    let lease = store
        .acquire_monitor(
            &camwatch_store::this_host(),
            std::process::id(),
            clock.now().as_second(),
        )
        .await?;
    print!("starting a simulated fleet of {} channels… ", o.channels);
    let fleet = camwatch_sim::start(
        SimConfig {
            shape: camwatch_core::registry::generate::Shape::Mix {
                channels: o.channels,
            },
            seed: o.seed,
            bind: BindMode::Distinct { base: sim_base() },
            faults: FaultPlan::Preset(o.fault_mix),
            horizon_sec: 7 * 86_400,
        },
        clock.clone(),
    )
    .await?;
    println!(
        "{} hosts listening on loopback",
        fleet.devices().iter().filter(|d| d.ip.is_some()).count()
    );
    for n in &fleet.notes {
        println!("  note: {n}");
    }
    std::fs::write(dir.join("truth.jsonl"), fleet.truth_jsonl())
        .map_err(|e| Error::invalid(e.to_string()))?;

    let register = dir.join("register.csv");
    std::fs::write(&register, to_csv(fleet.devices(), true))
        .map_err(|e| Error::invalid(format!("{}: {e}", register.display())))?;
    let s = crate::cli::device::import_file(store.as_ref(), &register, false, false).await?;
    let c = s.written.unwrap_or_default();
    println!(
        "imported the register {}: {} records ({} new, {} updated), {} rejected",
        register.display(),
        s.parsed.devices.len(),
        c.inserted,
        c.updated,
        s.parsed.rejected_rows
    );
    let devices = store.list_devices(&DeviceFilter::default()).await?;
    let started = clock.now().as_second();
    let state = Arc::new(MonitorState::for_devices(&devices, started));
    let cfg = MonitorConfig {
        liveness_interval_sec: 300,
        // Ten simulated minutes, not a fleet's hour: at the default 60× a picture fault is
        // confirmed (two samples) within the first minute of a run, not after two.
        picture_interval_sec: 600,
        deadline: Duration::from_secs(3),
        max_in_flight: 256,
        evidence_dir: Some(dir.join("evidence")),
        baseline_dir: Some(dir.join("baselines")),
        ..Default::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let bus = camwatch_monitor::EventBus::new(4096);
    // Work orders under the demo's contract: its SLA levels and calendar, the default grace.
    let desk = camwatch_workorder::Desk {
        store: store.clone(),
        sla: Arc::new(camwatch_workorder::Sla::new(
            store.clone(),
            Some(Contract::parse(CONTRACT, "contracts/example-98.toml")?),
            Vec::new(),
        )?),
        announcer: Arc::new(camwatch_workorder::Silent),
    };
    let engine = tokio::spawn(
        camwatch_workorder::Engine::new(
            desk.clone(),
            state.clone(),
            clock.clone(),
            camwatch_workorder::EngineConfig::from_config(&Default::default()),
        )
        .run(bus.subscribe(), stop_rx.clone()),
    );
    // The web console, on the same live state and events as the view below.
    let console = console::start(
        &o.listen,
        store.clone(),
        state.clone(),
        bus.clone(),
        desk.clone(),
        clock.clone(),
        (
            Contract::parse(CONTRACT, "contracts/example-98.toml")?,
            CONTRACT.to_string(),
        ),
        dir.join("baselines"),
        stop_rx.clone(),
    )
    .await?;
    let console_line = console.line();
    let monitor = tokio::spawn(camwatch_monitor::run(
        store.clone(),
        lease,
        devices.clone(),
        cfg,
        clock.clone(),
        state.clone(),
        bus,
        stop_rx,
    ));
    // Open and overdue orders, re-read every two seconds for the view.
    let (wo_tx, wo_rx) = tokio::sync::watch::channel(view::WorkOrderCounts::default());
    let counter = {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(c) = view::WorkOrderCounts::read(store.as_ref()).await {
                    let _ = wo_tx.send(c);
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    };

    let tui = o.tui.unwrap_or_else(|| std::io::stdout().is_terminal());
    let tz =
        jiff::tz::TimeZone::get("Asia/Shanghai").map_err(|e| Error::internal(e.to_string()))?;
    let snap = |phase: Phase| -> LiveStats {
        let now = clock.now();
        let text = now
            .to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string();
        state.snapshot(now.as_second(), text, o.time_scale, phase)
    };
    let phase = |state: &MonitorState| {
        let (done, total) = state.first_sweep();
        if done < total {
            Phase::FirstSweep { done, total }
        } else {
            Phase::Running
        }
    };
    let deadline = o.duration.map(|d| tokio::time::Instant::now() + d);
    if tui {
        let mut term = ratatui::init();
        let r: Result<()> = async {
            loop {
                let s = snap(phase(&state));
                let wo = *wo_rx.borrow();
                term.draw(|f| view::draw(f, &s, &wo, &console_line))
                    .map_err(|e| Error::internal(e.to_string()))?;
                if stop_requested(deadline) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(())
        }
        .await;
        let s = snap(Phase::Stopping);
        let wo = *wo_rx.borrow();
        let _ = term.draw(|f| view::draw(f, &s, &wo, &console_line));
        ratatui::restore();
        r?;
    } else {
        println!("{console_line}");
        let mut last = tokio::time::Instant::now() - Duration::from_secs(10);
        loop {
            if last.elapsed() >= Duration::from_secs(5) {
                println!(
                    "{}{}",
                    view::plain_line(&snap(phase(&state))),
                    wo_rx.borrow().plain()
                );
                last = tokio::time::Instant::now();
            }
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                break;
            }
        }
    }
    println!("stopping: letting probes in flight finish, closing spans…");
    let _ = stop_tx.send(true);
    monitor
        .await
        .map_err(|e| Error::internal(format!("monitor: {e}")))??;
    engine
        .await
        .map_err(|e| Error::internal(format!("work-order engine: {e}")))?;
    console
        .task
        .await
        .map_err(|e| Error::internal(format!("console: {e}")))?
        .map_err(|e| Error::unavailable("console", e))?;
    counter.abort();
    let ended = clock.now().as_second();
    let final_stats = snap(Phase::Stopping);
    fleet.shutdown().await;
    println!("{}", view::plain_line(&final_stats));
    let orders = store
        .list_work_orders(&camwatch_store::workorders::OrderFilter::default())
        .await?;
    let open = view::WorkOrderCounts::read(store.as_ref()).await?;
    println!(
        "work orders: {} opened, {} still open, {} of them overdue (camwatch --data {} workorder list)",
        orders.len(),
        open.open,
        open.overdue,
        dir.display()
    );

    // The period's report: the same build as `camwatch report`, over the demo's run.
    let contract = Contract::parse(CONTRACT, "contracts/example-98.toml")?;
    let tzc = contract.time_zone().map_err(Error::invalid)?;
    let period = Period::between(started, ended, tzc, &contract.timezone);
    let report = camwatch_report::load(&store, &period, &contract, CONTRACT, ended).await?;
    println!(
        "report for {} ({} simulated hours): online rate {}, intact rate {}, {} devices, total deduction {:.2} yuan",
        period.label,
        report.period_hours,
        report
            .fleet
            .online_rate
            .map_or("n/a".into(), |r| format!("{:.3}%", r * 100.0)),
        report
            .fleet
            .intact_rate
            .map_or("n/a".into(), |r| format!("{:.3}%", r * 100.0)),
        report.fleet.devices,
        report.total_deduction
    );
    for (format, name) in [
        (Format::Json, "report.json"),
        (Format::Xlsx, "report.xlsx"),
        (Format::Html, "report.html"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, render(&report, format, Lang::Zh)?)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        println!("  wrote {}", path.display());
    }
    println!(
        "  truth (the simulator's injected faults): {}",
        dir.join("truth.jsonl").display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// In the full-screen view Ctrl-C arrives as a key (raw mode), as does `q`.
fn stop_requested(deadline: Option<tokio::time::Instant>) -> bool {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyModifiers};
    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
        return true;
    }
    while event::poll(Duration::ZERO).unwrap_or(false) {
        if let Ok(Event::Key(k)) = event::read() {
            let ctrl_c =
                k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
            if ctrl_c || k.code == KeyCode::Char('q') || k.code == KeyCode::Esc {
                return true;
            }
        }
    }
    false
}
