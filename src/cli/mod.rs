//! The `camwatch` command line. Each subcommand lives in its own file and only parses flags,
//! calls into the library and prints; no business logic here.
//!
//! Exit codes: 0 success, 1 failure (error printed), 2 usage (clap), 3 some input rows rejected.

mod admin;
mod baseline;
mod bench;
mod bench_api;
mod bench_gb28181;
mod bench_gb28181_invite;
mod bench_nodes;
mod bench_quality;
mod bench_report;
mod bench_sim;
mod bench_sse;
mod bench_sweep;
mod bench_workorders;
pub mod context;
mod demo;
pub mod device;
mod diagnose;
mod exemption;
pub mod exit;
pub mod gb28181;
mod history;
mod nodes;
mod out_file;
mod probe;
pub mod report;
mod serve;
mod sim;
mod sweep;
mod user;
mod workorder;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use camwatch_core::error::ErrorKind;
use context::GlobalArgs;

#[derive(Debug, Parser)]
#[command(
    name = "camwatch",
    version,
    about = "Health monitor for video-surveillance camera fleets"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A simulated fleet, monitored, with its month's figures: try camwatch with nothing else.
    Demo(demo::DemoArgs),
    /// The monitor, continuously: probes the register and records status history.
    Serve(serve::ServeArgs),
    /// The nodes sharing this database: state, shards held, last heartbeat, lag.
    Nodes(nodes::NodesArgs),
    /// One liveness pass over the register, with a summary (writes no history).
    Sweep(sweep::SweepArgs),
    /// Probe one device or URL now and explain what was found.
    Probe(probe::ProbeArgs),
    /// Approved baseline pictures (for scene-change detection).
    #[command(subcommand)]
    Baseline(baseline::BaselineCommand),
    /// Picture diagnostics on a JPEG: signal loss, dark/bright, blur, noise, colour cast, …
    Diagnose(diagnose::DiagnoseArgs),
    /// A simulated camera fleet on loopback (rehearsals, load tests, interop tests).
    Sim(Box<sim::SimArgs>),
    /// Create or upgrade the database schema (also done at every start).
    Migrate,
    /// The camera register (一机一档): import, export, list, generate, confirm.
    #[command(subcommand, visible_alias = "register")]
    Device(device::DeviceCommand),
    /// Status history: import from another platform, show a device's spans.
    #[command(subcommand)]
    History(history::HistoryCommand),
    /// Exemptions (force majeure, planned works, …): add, import, list.
    #[command(subcommand)]
    Exemption(exemption::ExemptionCommand),
    /// Reports: the month's online rates, offline hours and deductions under a contract.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Fault work orders (工单): list, show, open, accept, repair, review, reopen, assign.
    #[command(subcommand, name = "workorder")]
    WorkOrder(workorder::WorkOrderCommand),
    /// Users of the API and console, and API tokens: add, passwd, list, disable, token.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Benchmarks that print the figures in the README's performance table.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Configuration file tools.
    #[command(subcommand)]
    Config(admin::ConfigCommand),
    /// GB/T 28181 platform tools (the platform itself runs in `serve`).
    #[command(subcommand)]
    Gb28181(gb28181::Gb28181Command),
}

/// Runs the command line; returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(async {
        match &cli.command {
            Command::Demo(a) => demo::run(&cli.global, a).await,
            Command::Serve(a) => serve::run(&cli.global, a).await,
            Command::Nodes(a) => nodes::run(&cli.global, a).await,
            Command::Sweep(a) => sweep::run(&cli.global, a).await,
            Command::Probe(a) => probe::run(&cli.global, a).await,
            Command::Sim(a) => sim::run(a).await,
            Command::Diagnose(a) => diagnose::run(&cli.global, a),
            Command::Baseline(c) => baseline::run(&cli.global, c).await,
            Command::Migrate => admin::migrate(&cli.global).await,
            Command::Config(c) => admin::config(&cli.global, c),
            Command::Device(c) => device::run(&cli.global, c).await,
            Command::History(c) => history::run(&cli.global, c).await,
            Command::Exemption(c) => exemption::run(&cli.global, c).await,
            Command::Report(c) => report::run(&cli.global, c).await,
            Command::WorkOrder(c) => workorder::run(&cli.global, c).await,
            Command::User(c) => user::run(&cli.global, c).await,
            Command::Bench(c) => bench::run(c).await,
            Command::Gb28181(c) => gb28181::run(&cli.global, c).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("camwatch: {e}");
            if e.kind == ErrorKind::Internal {
                eprintln!("camwatch: this is a bug; please report it with the command you ran");
            }
            exit::Exit::of_error(e.kind).into()
        }
    }
}

/// A fleet monitor (and the simulator) holds a socket per probe or listener: lift the soft
/// open-files limit to the hard one, and the hard one too where the process may (root).
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return;
        }
        let want = 1 << 20;
        if r.rlim_max < want {
            let up = libc::rlimit {
                rlim_cur: want,
                rlim_max: want,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &up) == 0 {
                return;
            }
        }
        r.rlim_cur = r.rlim_max;
        let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &r);
    }
}
