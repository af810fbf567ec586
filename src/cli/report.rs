//! `camwatch report monthly`: the month's figures under a contract, in JSON, CSV, XLSX or HTML,
//! with the month's patrol section when `[patrol]` is enabled.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::context::GlobalArgs;
use super::out_file::OutFile;
use camwatch_core::contract::Contract;
use camwatch_core::error::{Error, Result};
use camwatch_report::render::{Format, Lang, render_to};
use camwatch_report::{Month, Period, Report};

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// One calendar month in the contract's time zone.
    Monthly(MonthlyArgs),
}

#[derive(Debug, Args)]
pub struct MonthlyArgs {
    /// The month, YYYY-MM.
    #[arg(long)]
    pub month: String,
    /// Contract rules (TOML); default: `[contract] file` in the config.
    #[arg(long)]
    pub contract: Option<PathBuf>,
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Language of headers and labels in CSV, XLSX and HTML (JSON keys are always English).
    #[arg(long, default_value = "zh")]
    pub lang: String,
    /// Write here instead of standard output (required for XLSX on a terminal).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Loads a contract file, keeping its text for the report's digest.
pub fn load_contract(path: &Path) -> Result<(Contract, String)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(format!("contract {}: {e}", path.display())))?;
    let c = Contract::parse(&text, &path.display().to_string())?;
    Ok((c, text))
}

/// Writes `r` as `format` to `path`, whole or not at all (see [`OutFile`]).
pub fn write_report(r: &Report, format: Format, lang: Lang, path: &Path) -> Result<()> {
    let mut out = OutFile::create(path)?;
    render_to(r, format, lang, &mut out)?;
    out.commit()
}

pub async fn run(g: &GlobalArgs, cmd: &ReportCommand) -> Result<ExitCode> {
    let ReportCommand::Monthly(a) = cmd;
    // Phase timings and the like go to stderr when asked for (`RUST_LOG=camwatch=debug`).
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
    let month: Month = a.month.parse().map_err(Error::invalid)?;
    let format: Format = a.format.parse().map_err(Error::invalid)?;
    let lang: Lang = a.lang.parse().map_err(Error::invalid)?;
    if format.is_binary() && a.out.is_none() && std::io::stdout().is_terminal() {
        return Err(Error::invalid("XLSX is binary: give --out FILE"));
    }
    let ctx = g.context().await?;
    let path = match &a.contract {
        Some(p) => p.clone(),
        None if !ctx.config.contract.file.is_empty() => PathBuf::from(&ctx.config.contract.file),
        None => {
            return Err(Error::invalid(
                "no contract: give --contract FILE or set [contract] file in the config (examples in contracts/)",
            ));
        }
    };
    let (contract, text) = load_contract(&path)?;
    let tz = contract.time_zone().map_err(Error::invalid)?;
    let period = Period::month(month, tz, &contract.timezone);
    let now = jiff::Timestamp::now().as_second();
    if period.start_at >= now {
        return Err(Error::invalid(format!("{month} has not started yet")));
    }
    let patrol = if ctx.config.patrol.enabled {
        Some(camwatch_report::PatrolAsk {
            month,
            calendar: contract.calendar()?,
            rules: ctx.config.patrol.rules(),
        })
    } else {
        None
    };
    let r =
        camwatch_report::load_with_patrol(&ctx.store, &period, &contract, &text, now, None, patrol)
            .await?;
    let t = std::time::Instant::now();
    match &a.out {
        Some(p) => {
            write_report(&r, format, lang, p)?;
            tracing::debug!(
                elapsed_ms = t.elapsed().as_millis() as u64,
                "report: rendered and written"
            );
            eprintln!(
                "{}: {} devices, online rate {}, total deduction {:.2} yuan, input digest {}",
                p.display(),
                r.fleet.devices,
                r.fleet
                    .online_rate
                    .map_or("n/a (nothing observed)".into(), |x| format!(
                        "{:.4}%",
                        x * 100.0
                    )),
                r.total_deduction,
                &r.input_digest[..16]
            );
        }
        None => {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            render_to(&r, format, lang, &mut out)?;
            out.flush()
                .map_err(|e| Error::invalid(format!("stdout: {e}")))?;
        }
    }
    for n in &r.notes {
        eprintln!("note: {n}");
    }
    Ok(ExitCode::SUCCESS)
}
