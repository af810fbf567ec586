//! `camwatch serve`: the monitor as an operator runs it (see deploy/camwatch.service).
//!
//! SIGTERM or SIGINT stops it: no new probes start, probes in flight finish or are cut at their
//! deadline, pending status changes are written and open spans are closed at the stop. A
//! restart closes whatever a crash left open at the last heartbeat, so the time camwatch was
//! not watching is `unknown`.
//!
//! One monitor per database: a `serve` started while another monitor holds the database (on
//! this machine or, with PostgreSQL, any other) exits with an error naming it, before it
//! probes or writes anything (see `store::lease`). With `[node] name` set, on PostgreSQL, it is
//! one of several nodes instead, probing the shards it holds (docs/nodes.md).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::context::GlobalArgs;
use crate::demo::view::{Phase, WorkOrderCounts, plain_line};
use camwatch_core::clock::{Clock, SystemClock};
use camwatch_core::error::{Error, Result};
use camwatch_core::nodes::duty::Duty;
use camwatch_monitor::{Duties, MonitorConfig, MonitorState, run_duty};
use camwatch_store::DeviceFilter;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Log a fleet summary line this often (seconds; 0: never).
    #[arg(long, default_value_t = 60)]
    pub summary_every: u64,
}

/// Waits for SIGINT, SIGTERM or the end of `duration`.
pub async fn until_stopped(duration: Option<Duration>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Error::internal(format!("installing the SIGTERM handler: {e}")))?;
    let sleep = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = sleep => {}
    }
    Ok(())
}

/// How often the TLS certificate files are checked for a renewal.
const CERTIFICATE_CHECK: Duration = Duration::from_secs(60);

/// Reloads the TLS certificate at each SIGHUP (as after a renewal), until `stop`.
async fn reload_on_hangup(
    certs: std::sync::Arc<camwatch_api::tls::Certificates>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(
                "no SIGHUP handler, the certificate reloads only when its files change: {e}"
            );
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            got = hup.recv() => if got.is_none() { return },
        }
        match certs.reload() {
            Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
            Err(e) => {
                tracing::error!("SIGHUP: TLS certificate not reloaded, the previous one stays: {e}")
            }
        }
    }
}

pub async fn run(g: &GlobalArgs, a: &ServeArgs) -> Result<ExitCode> {
    let ctx = g.context().await?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .or_else(|_| tracing_subscriber::EnvFilter::try_new(&ctx.config.log.filter))
                .map_err(|e| Error::invalid(format!("log.filter: {e}")))?,
        )
        .try_init();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let node = &ctx.config.node;
    let lease = if node.enabled() {
        if ctx.store.backend() != "postgres" {
            return Err(Error::invalid(
                "config [node] name: several nodes share a PostgreSQL database, and this one is \
                 SQLite (set [database] url = \"postgres://…\", or leave [node] name empty)",
            ));
        }
        ctx.store
            .join_node(
                node.name.trim(),
                &camwatch_store::this_host(),
                std::process::id(),
                clock.now().as_second(),
            )
            .await?
    } else {
        ctx.store
            .acquire_monitor(
                &camwatch_store::this_host(),
                std::process::id(),
                clock.now().as_second(),
            )
            .await?
    };
    super::user::ensure_first_admin(&ctx).await?;
    // This month's and the next months' partitions of history (PostgreSQL) before anything is
    // written; then once a day by the `retention` duty below.
    camwatch_report::archive::prepare_around(&*ctx.store, clock.now().as_second()).await?;
    let devices = ctx.store.list_devices(&DeviceFilter::default()).await?;
    if devices.is_empty() {
        return Err(Error::invalid(
            "the register is empty: import it first (camwatch device import FILE)",
        ));
    }
    let mut cfg = MonitorConfig {
        evidence_dir: Some(ctx.data_dir.join("evidence")),
        baseline_dir: Some(ctx.data_dir.join("baselines")),
        node: node.enabled().then(|| camwatch_monitor::NodeRole {
            name: node.name.trim().to_string(),
            heartbeat_sec: node.heartbeat_sec,
            lease_ttl_sec: node.lease_ttl_sec,
        }),
        ..MonitorConfig::from_config(&ctx.config)
    };
    let state = Arc::new(MonitorState::for_devices(&devices, clock.now().as_second()));
    tracing::info!(
        instance = %lease.id(),
        node = node.name.trim(),
        devices = devices.len(),
        liveness_every_sec = cfg.liveness_interval_sec,
        picture_every_sec = cfg.picture_interval_sec,
        max_in_flight = cfg.max_in_flight,
        "camwatch serve: monitoring"
    );
    ctx.audit(
        "serve.start",
        "monitor",
        serde_json::json!({"devices": devices.len(), "instance": lease.id().0}),
    )
    .await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let bus = camwatch_monitor::EventBus::new(4096);
    // Subscribed before the monitor starts: the engine sees its first changes too.
    let engine = if ctx.config.workorders.enabled {
        let engine = camwatch_workorder::Engine::new(
            super::workorder::desk(&ctx, None)?,
            state.clone(),
            clock.clone(),
            camwatch_workorder::EngineConfig::from_config(&ctx.config.workorders),
        );
        Some(tokio::spawn(engine.run(bus.subscribe(), stop_rx.clone())))
    } else {
        None
    };
    // Notifications: delivered from the outbox the engine writes into, retried until they go;
    // and the daily digest per contractor, at `[notify] digest_at` (once a day across
    // restarts). Each is a singleton duty: with several nodes, only the holder of its lease
    // runs it (docs/nodes.md); the database's one monitor runs both.
    let (notify, targets) = super::workorder::notify_config(&ctx.config)?;
    let digest = super::workorder::daily_digest(&ctx, clock.clone())?
        .filter(|_| ctx.config.workorders.enabled);
    let mut wanted = vec![Duty::Retention];
    if !targets.is_empty() {
        wanted.push(Duty::Outbox);
    }
    if digest.is_some() {
        wanted.push(Duty::Reports);
    }
    let duties = Duties::new(wanted);
    if node.enabled() {
        cfg.duties = Some(duties.clone());
    } else {
        duties.hold_all();
    }
    let outbox = if targets.is_empty() {
        None
    } else {
        let opts = camwatch_notify::DeliveryOptions::from(&notify);
        // Checked now, so a bad target fails the start rather than the first takeover.
        camwatch_notify::Outbox::new(
            ctx.store.clone(),
            targets.clone(),
            clock.clone(),
            opts.clone(),
        )?;
        let (store, clock) = (ctx.store.clone(), clock.clone());
        Some(tokio::spawn(run_duty(
            Duty::Outbox,
            duties.watch(),
            stop_rx.clone(),
            move |lost| {
                let outbox = camwatch_notify::Outbox::new(
                    store.clone(),
                    targets.clone(),
                    clock.clone(),
                    opts.clone(),
                );
                async move {
                    match outbox {
                        Ok(o) => o.run(lost).await,
                        Err(e) => tracing::error!("notification outbox not started: {e}"),
                    }
                }
            },
        )))
    };
    let digest = digest.map(|d| {
        tokio::spawn(run_duty(
            Duty::Reports,
            duties.watch(),
            stop_rx.clone(),
            move |lost| d.clone().run(lost),
        ))
    });
    // History's months: partitions ahead, and archival past `[retention] months` when
    // `[retention] archive_dir` is set.
    let retention = {
        let (store, clock) = (ctx.store.clone(), clock.clone());
        let months = ctx.config.retention.months;
        let dir = Some(ctx.config.retention.archive_dir.trim())
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from);
        tokio::spawn(run_duty(
            Duty::Retention,
            duties.watch(),
            stop_rx.clone(),
            move |lost| {
                camwatch_report::archive::keep(
                    store.clone(),
                    clock.clone(),
                    months,
                    dir.clone(),
                    lost,
                )
            },
        ))
    };
    // The HTTP API (`[api] listen`; none when empty), stopped with the rest.
    let api = if ctx.config.api.listen.trim().is_empty() {
        None
    } else {
        let addr = ctx.config.api.listen.trim();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::invalid(format!("config [api] listen = {addr:?}: {e}")))?;
        let tls = match (
            ctx.config.api.tls_cert.trim(),
            ctx.config.api.tls_key.trim(),
        ) {
            ("", "") => None,
            ("", _) | (_, "") => {
                return Err(Error::invalid(
                    "config [api]: tls_cert and tls_key go together (set both, or neither)",
                ));
            }
            (cert, key) => Some(
                camwatch_api::tls::Certificates::load(
                    std::path::Path::new(cert),
                    std::path::Path::new(key),
                )
                .map_err(Error::invalid)?,
            ),
        };
        let mut ops = camwatch_api::ops::Ops::new(bus.clone());
        ops.metrics_open = ctx.config.api.metrics_open;
        let app = camwatch_api::AppState {
            store: ctx.store.clone(),
            accounts: super::user::accounts(&ctx)?,
            monitor: state.clone(),
            desk: super::workorder::desk(&ctx, None)?,
            clock: clock.clone(),
            secure_cookie: ctx.config.api.secure_cookie || tls.is_some(),
            register: Default::default(),
            reports: match ctx.config.contract.file.trim() {
                "" => None,
                f => {
                    let (c, text) = super::report::load_contract(std::path::Path::new(f))?;
                    Some(camwatch_api::reports::Reports::new(c, text))
                }
            },
            ops,
            console: Arc::new(ctx.config.console.clone()),
            pictures: Some(std::sync::Arc::new(
                camwatch_api::devices::pictures::Pictures {
                    dir: ctx.data_dir.join("baselines"),
                    thresholds: std::sync::Arc::new(ctx.config.quality.fleet_thresholds()),
                },
            )),
            patrol: Arc::new(ctx.config.patrol.clone()),
        };
        let bound = listener
            .local_addr()
            .map_or_else(|_| addr.to_string(), |a| a.to_string());
        let mut stop = stop_rx.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        Some(match tls {
            None => {
                tracing::info!(listen = %bound, "camwatch serve: HTTP API on /api/v1");
                tokio::spawn(camwatch_api::serve(listener, app, stopped))
            }
            Some(certs) => {
                let acceptor = certs.acceptor().map_err(Error::invalid)?;
                let mut stop = stop_rx.clone();
                tokio::spawn(certs.clone().watch(CERTIFICATE_CHECK, async move {
                    let _ = stop.wait_for(|s| *s).await;
                }));
                tokio::spawn(reload_on_hangup(certs, stop_rx.clone()));
                tracing::info!(listen = %bound, "camwatch serve: HTTPS API on /api/v1");
                tokio::spawn(camwatch_api::serve_tls(listener, acceptor, app, stopped))
            }
        })
    };
    // The GB/T 28181 platform (`[gb28181] enabled`), stopped with the rest.
    let gb28181 = if ctx.config.gb28181.enabled {
        let key = camwatch_core::secret::SecretKey::load(&ctx.config.key_file())
            .map_err(|e| Error::invalid(e.to_string()))?;
        let (task, status) = super::gb28181::start(
            &ctx.config.gb28181,
            &key,
            &devices,
            clock.clone(),
            ctx.store.clone(),
            Some(super::gb28181::EventLink {
                state: state.clone(),
                bus: bus.clone(),
                duties: node.enabled().then(|| duties.clone()),
            }),
            stop_rx.clone(),
        )
        .await?;
        // Devices without an address of their own get their liveness from the platform; the
        // API shows what it knows of each (registration, keepalives, catalog).
        state.set_signalling(status.clone());
        cfg.signalling = Some(status);
        Some(task)
    } else {
        None
    };
    let mut monitor = tokio::spawn(camwatch_monitor::run(
        ctx.store.clone(),
        lease,
        devices,
        cfg,
        clock.clone(),
        state.clone(),
        bus,
        stop_rx,
    ));
    let summary = {
        let (state, clock, store) = (state.clone(), clock.clone(), ctx.store.clone());
        let every = a.summary_every;
        async move {
            if every == 0 {
                return std::future::pending().await;
            }
            loop {
                tokio::time::sleep(Duration::from_secs(every)).await;
                let now = clock.now();
                let (done, total) = state.first_sweep();
                let phase = if done < total {
                    Phase::FirstSweep { done, total }
                } else {
                    Phase::Running
                };
                let text = now.strftime("%Y-%m-%d %H:%M:%SZ").to_string();
                let s = state.snapshot(now.as_second(), text, 1.0, phase);
                let orders = WorkOrderCounts::read(store.as_ref())
                    .await
                    .map(|c| c.plain())
                    .unwrap_or_default();
                tracing::info!("{}{orders}", plain_line(&s));
            }
        }
    };
    // The monitor only returns early on an error (e.g. the database went away).
    let early = tokio::select! {
        r = until_stopped(None) => { r?; None }
        r = &mut monitor => Some(r),
        _ = summary => None,
    };
    let result = match early {
        Some(r) => r,
        None => {
            tracing::info!(
                "stopping: probes in flight finish or hit their deadline; closing spans"
            );
            let _ = stop_tx.send(true);
            monitor.await
        }
    };
    result.map_err(|e| Error::internal(format!("monitor task: {e}")))??;
    let _ = stop_tx.send(true);
    if let Some(engine) = engine {
        engine
            .await
            .map_err(|e| Error::internal(format!("work-order engine task: {e}")))?;
    }
    if let Some(outbox) = outbox {
        outbox
            .await
            .map_err(|e| Error::internal(format!("notification task: {e}")))?;
    }
    if let Some(digest) = digest {
        digest
            .await
            .map_err(|e| Error::internal(format!("daily digest task: {e}")))?;
    }
    retention
        .await
        .map_err(|e| Error::internal(format!("retention task: {e}")))?;
    if let Some(api) = api {
        api.await
            .map_err(|e| Error::internal(format!("API task: {e}")))?
            .map_err(|e| Error::unavailable("API", e))?;
    }
    if let Some(gb) = gb28181 {
        gb.await
            .map_err(|e| Error::internal(format!("GB/T 28181 task: {e}")))?
            .map_err(|e| Error::unavailable("GB/T 28181 platform", e))?;
    }
    ctx.audit("serve.stop", "monitor", serde_json::json!({}))
        .await?;
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}
