//! `camwatch bench …`: figures the issues name, measured on this machine and printed with the
//! command that reproduced them. Each bench bounds its own work (counts, not durations).

use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;

use camwatch_core::error::{Error, Result};
use camwatch_core::registry::export::to_csv;
use camwatch_core::registry::generate::generate;
use camwatch_core::secret::SecretKey;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Generate a register of N channels, then time its import (parse + validate + upsert) into a
    /// fresh SQLite database, and into a fresh PostgreSQL database when --pg names a server.
    Import {
        #[arg(long, default_value_t = 100_000)]
        count: u64,
        /// postgres://USER@HOST:PORT/DB of a server where the bench may create and drop a database.
        #[arg(long)]
        pg: Option<String>,
    },
    /// Fill a fresh database with N channels and S status spans each over October 2026, then
    /// time `camwatch report monthly` on it (a child process: wall time and its peak RSS), on
    /// SQLite and, with --pg, on PostgreSQL.
    Report {
        #[arg(long, default_value_t = 300_000)]
        devices: u64,
        #[arg(long, default_value_t = 20)]
        spans: u32,
        #[arg(long)]
        pg: Option<String>,
        /// With --pg: months of history (two spans per channel and month) before the
        /// report's month, so the report reads one month out of years; SQLite is then not run.
        #[arg(long, default_value_t = 0)]
        history_months: u32,
    },
    /// N open and M closed work orders over three years in a fresh database, then filtered
    /// list pages and one month's statistics, timed (median and slowest of 21 runs), on SQLite
    /// and, with --pg, on PostgreSQL.
    Workorders {
        #[arg(long, default_value_t = 10_000)]
        open: u64,
        #[arg(long, default_value_t = 1_000_000)]
        closed: u64,
        #[arg(long)]
        pg: Option<String>,
    },
    /// The picture diagnostics' cost per frame on one core: a 1080p JPEG's DC-only decode +
    /// every detector, as the measuring thread's CPU time (min and median over the frames),
    /// beside `jpeg-decoder`'s full-size decode of the same JPEG as the reference peer.
    Quality {
        #[arg(long, default_value_t = 400)]
        frames: usize,
        /// Also a 3840×2160 JPEG.
        #[arg(long)]
        uhd: bool,
    },
    /// The HTTP API over a register of N devices with a live state: device list pages under
    /// every sort and filter, deep pages, scoped lists and the fleet summary, timed over
    /// loopback (median, p95, slowest).
    Api {
        #[arg(long, default_value_t = 100_000)]
        devices: u64,
    },
    /// One liveness sweep of N simulated channels (simulator and sweep in their own
    /// processes): wall, CPU, peak RSS, p50/p99; then ffprobe over a subset, 64 in parallel,
    /// and the channels-per-CPU-second ratio.
    Sweep {
        #[arg(long, default_value_t = 50_000)]
        channels: u64,
        #[arg(long, default_value_t = 500)]
        ffprobe_subset: usize,
        #[arg(long, default_value_t = 64)]
        ffprobe_parallel: usize,
    },
    /// The simulator's capacity: N channels in one process, then a fixed number of RTSP
    /// DESCRIBEs and snapshot GETs against it (new connection each), and its peak RSS.
    Sim {
        #[arg(long, default_value_t = 50_000)]
        channels: u64,
        #[arg(long, default_value_t = 200_000)]
        describes: usize,
        #[arg(long, default_value_t = 40_000)]
        snapshots: usize,
        #[arg(long, default_value_t = 256)]
        parallel: usize,
    },
    /// The truth test at full length: a simulated week of a seeded realistic fleet, monitored
    /// on a scaled clock; measured vs true online rate, per-camera offline hours, limit flags.
    E2e {
        #[arg(long, default_value_t = 500)]
        channels: u64,
        /// Simulated days.
        #[arg(long, default_value_t = 7)]
        days: u32,
        #[arg(long, default_value_t = 360.0)]
        time_scale: f64,
        #[arg(long, default_value_t = 3)]
        seed: u64,
        #[arg(long, default_value = "heavy")]
        fault_mix: String,
    },
    /// What open event streams cost: `serve` monitors a simulated fleet (both in their own
    /// processes); its CPU share over a window with no client and over one with N clients on
    /// `GET /api/v1/events`.
    /// Several `serve` nodes on one PostgreSQL probing a simulated fleet (their own processes):
    /// CPU and memory per node, scheduler lag p50/p99, PostgreSQL's write rate.
    Nodes {
        /// A PostgreSQL server (a scratch database is made on it and dropped after).
        #[arg(long)]
        pg: String,
        #[arg(long, default_value_t = 300_000)]
        channels: u64,
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Liveness interval, seconds.
        #[arg(long, default_value_t = 300)]
        interval: u64,
        /// Minutes measured, once the shards have settled and one interval has passed.
        #[arg(long, default_value_t = 10)]
        minutes: u64,
    },
    Sse {
        #[arg(long, default_value_t = 50_000)]
        channels: u64,
        #[arg(long, default_value_t = 1_000)]
        clients: usize,
        /// Seconds of each measured window.
        #[arg(long, default_value_t = 60)]
        window: u64,
        /// A storm: this many cameras flap (offline half of every 4 minutes, staggered), in
        /// place of the realistic fault mix, so the streams carry changes all the time.
        #[arg(long, default_value_t = 0)]
        storm: u64,
    },
    /// The GB/T 28181 platform (this process) against N simulated devices (their own
    /// process, loopback UDP): a REGISTER storm of all N at once with digest auth, timed; then
    /// the platform's CPU share over a real window of their keepalives every 60 s.
    ///
    /// With `--invites N`: instead, N picture probes by INVITE (RTP/PS to a diagnosed
    /// keyframe) against a simulated lower platform and cameras, `--parallel` at once.
    Gb28181 {
        #[arg(long, default_value_t = 10_000)]
        devices: u32,
        /// Seconds of the measured keepalive window.
        #[arg(long, default_value_t = 120)]
        window: u64,
        /// Picture probes by INVITE to run (0: the REGISTER/keepalive bench).
        #[arg(long, default_value_t = 0)]
        invites: u64,
        /// For `--invites`: channels of the simulated lower platform...
        #[arg(long, default_value_t = 64)]
        channels: u32,
        /// ...and single cameras (each its own peer).
        #[arg(long, default_value_t = 16)]
        peers: u32,
        /// For `--invites`: probes at once (at most 4 through one peer).
        #[arg(long, default_value_t = 32)]
        parallel: usize,
        /// For `--invites`: media over `udp`, `tcp_passive` or `tcp_active`.
        #[arg(long, default_value = "udp")]
        media_transport: String,
    },
}

pub async fn run(cmd: &BenchCommand) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Import { count, pg } => bench_import(*count, pg.as_deref()).await,
        BenchCommand::Report {
            devices,
            spans,
            pg,
            history_months,
        } => super::bench_report::run(*devices, *spans, pg.as_deref(), *history_months).await,
        BenchCommand::Workorders { open, closed, pg } => {
            super::bench_workorders::run(*open, *closed, pg.as_deref()).await
        }
        BenchCommand::Quality { frames, uhd } => super::bench_quality::run(*frames, *uhd).await,
        BenchCommand::Api { devices } => super::bench_api::run(*devices).await,
        BenchCommand::Sweep {
            channels,
            ffprobe_subset,
            ffprobe_parallel,
        } => super::bench_sweep::run(*channels, *ffprobe_subset, *ffprobe_parallel).await,
        BenchCommand::Sim {
            channels,
            describes,
            snapshots,
            parallel,
        } => super::bench_sim::run(*channels, *describes, *snapshots, *parallel).await,
        BenchCommand::E2e {
            channels,
            days,
            time_scale,
            seed,
            fault_mix,
        } => bench_e2e(*channels, *days, *time_scale, *seed, fault_mix).await,
        BenchCommand::Nodes {
            pg,
            channels,
            nodes,
            interval,
            minutes,
        } => {
            super::bench_nodes::run(super::bench_nodes::NodesBench {
                pg,
                channels: *channels,
                nodes: *nodes,
                interval_sec: *interval,
                minutes: *minutes,
            })
            .await
        }
        BenchCommand::Sse {
            channels,
            clients,
            window,
            storm,
        } => super::bench_sse::run(*channels, *clients, *window, *storm).await,
        BenchCommand::Gb28181 {
            devices,
            window,
            invites: 0,
            ..
        } => super::bench_gb28181::run(*devices, *window).await,
        BenchCommand::Gb28181 {
            invites,
            channels,
            peers,
            parallel,
            media_transport,
            ..
        } => {
            use camwatch_core::config::GbMediaTransport;
            let transport = match media_transport.as_str() {
                "udp" => GbMediaTransport::Udp,
                "tcp_passive" => GbMediaTransport::TcpPassive,
                "tcp_active" => GbMediaTransport::TcpActive,
                other => {
                    return Err(Error::invalid(format!(
                        "--media-transport {other:?}: expected udp, tcp_passive or tcp_active"
                    )));
                }
            };
            super::bench_gb28181_invite::run(super::bench_gb28181_invite::InviteArgs {
                invites: *invites,
                channels: *channels,
                peers: *peers,
                parallel: *parallel,
                transport,
            })
            .await
        }
    }
}

async fn bench_import(count: u64, pg: Option<&str>) -> Result<ExitCode> {
    let dir = tempfile_dir()?;
    let file = dir.join("register.csv");
    let devices = generate(count, 1);
    std::fs::write(&file, to_csv(&devices, true))
        .map_err(|e| Error::invalid(format!("{}: {e}", file.display())))?;
    println!(
        "register: {count} channels, {} records, {:.1} MB CSV",
        devices.len(),
        std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );
    drop(devices);

    let sqlite_url = format!("sqlite://{}", dir.join("bench.db").display());
    let secs = import_once(&sqlite_url, &file, count).await?;
    println!(
        "sqlite    import: {secs:.2} s  ({:.0} records/s)",
        count as f64 / secs
    );

    if let Some(base) = pg {
        let db = ScratchDb::create(base).await?;
        let r = import_once(&db.url, &file, count).await;
        db.drop_it().await;
        let secs = r?;
        println!(
            "postgres  import: {secs:.2} s  ({:.0} records/s)",
            count as f64 / secs
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

async fn import_once(url: &str, file: &std::path::Path, count: u64) -> Result<f64> {
    let store = camwatch_store::connect(url, SecretKey::generate()).await?;
    let t = Instant::now();
    let s = super::device::import_file(store.as_ref(), file, false, false).await?;
    let secs = t.elapsed().as_secs_f64();
    if !s.parsed.errors.is_empty() || s.written.map_or(0, |c| c.inserted) < count {
        return Err(Error::internal(format!(
            "bench import rejected rows: {:?}",
            s.parsed.errors.first()
        )));
    }
    Ok(secs)
}

/// A database of its own on a PostgreSQL server, for one bench run.
pub struct ScratchDb {
    admin: sqlx::PgConnection,
    name: String,
    /// Its URL.
    pub url: String,
}

impl ScratchDb {
    /// Creates `camwatch_bench_<random hex>` beside the database `base` names.
    pub async fn create(base: &str) -> Result<Self> {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(base)
            .await
            .map_err(camwatch_store::db_error)?;
        let mut b = [0u8; 6];
        getrandom::fill(&mut b).map_err(|e| Error::internal(e.to_string()))?;
        let name = format!("camwatch_bench_{}", hex::encode(b));
        // The name is our own random hex, not user input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .map_err(camwatch_store::db_error)?;
        let url = sibling_database(base, &name)?;
        Ok(Self { admin, name, url })
    }

    /// Drops it (best effort: a bench's result stands either way).
    pub async fn drop_it(mut self) {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await;
    }
}

/// `postgres://u@h:p/db` → `postgres://u@h:p/<name>`: a new database on the same server.
fn sibling_database(base: &str, name: &str) -> Result<String> {
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    match base[after_scheme..].rfind('/') {
        Some(i) => Ok(format!("{}/{name}", &base[..after_scheme + i])),
        None => Err(Error::invalid(format!(
            "{base:?} must name a database (postgres://USER@HOST:PORT/DB)"
        ))),
    }
}

pub(super) fn tempfile_dir() -> Result<std::path::PathBuf> {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).map_err(|e| Error::internal(e.to_string()))?;
    let d = std::env::temp_dir().join(format!("camwatch-bench-{}", hex::encode(b)));
    std::fs::create_dir_all(&d).map_err(|e| Error::invalid(format!("{}: {e}", d.display())))?;
    Ok(d)
}

async fn bench_e2e(
    channels: u64,
    days: u32,
    time_scale: f64,
    seed: u64,
    fault_mix: &str,
) -> Result<ExitCode> {
    use crate::rehearsal::{RehearsalConfig, rehearse};
    use camwatch_sim::{BindMode, FaultPlan};
    let dir = tempfile_dir()?;
    let simulated_sec = days as i64 * 86_400;
    println!(
        "simulating {days} days of {channels} channels ({fault_mix} faults, seed {seed}) at ×{time_scale}: about {:.0} s…",
        simulated_sec as f64 / time_scale
    );
    let r = rehearse(RehearsalConfig {
        channels,
        seed,
        bind: BindMode::Distinct {
            base: std::net::Ipv4Addr::new(127, 24, 0, 1),
        },
        faults: FaultPlan::Preset(fault_mix.parse().map_err(Error::invalid)?),
        time_scale,
        simulated_sec,
        monitor: camwatch_monitor::MonitorConfig {
            // The deadline is real time (12 simulated minutes at ×360): above what the
            // preset's slow cameras need (0.7 s per reply, two replies with digest auth),
            // so they are slow, not down.
            deadline: std::time::Duration::from_secs(2),
            ..Default::default()
        },
        dir: dir.clone(),
        db_url: None,
    })
    .await;
    // CAMWATCH_BENCH_KEEP keeps the run's database, register and truth file for a look at
    // where measured and true hours differ, camera by camera.
    if std::env::var_os("CAMWATCH_BENCH_KEEP").is_some() {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let r = r?;
    print!("{}", r.summary());
    Ok(
        if r.rate_error_pp().abs() <= 0.1 && r.flag_mismatches().is_empty() {
            ExitCode::SUCCESS
        } else {
            super::exit::Exit::OutsideBar.into()
        },
    )
}
