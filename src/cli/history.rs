//! `camwatch history`: import status history from another platform (or for an audit), and show
//! one device's spans.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::context::GlobalArgs;
use camwatch_core::error::{Error, Result};
use camwatch_core::history::csv::{parse_history, parse_instant};
use camwatch_core::registry::DeviceCode;
use camwatch_core::registry::import::RowError;
use camwatch_core::registry::table::read_file;

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Import spans from CSV/XLSX: device_code,status,from,to[,cause] (RFC 3339 times).
    /// Bad rows are reported and the good ones imported (exit status 3), unless `--strict`;
    /// an overlap with stored spans imports nothing.
    Import {
        file: PathBuf,
        /// Check only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Any rejected row imports nothing.
        #[arg(long)]
        strict: bool,
    },
    /// One device's spans in a period, with durations.
    Show {
        code: String,
        /// RFC 3339 start (default: 31 days ago).
        #[arg(long)]
        from: Option<String>,
        /// RFC 3339 end (default: now).
        #[arg(long)]
        to: Option<String>,
    },
    /// Export every whole UTC month before the cut to CSV with SHA-256 sums (its spans, by the
    /// month they ended in, and its audit entries), then drop it from the database. The cut
    /// may not fall inside the retention period (`[retention] months`).
    Archive {
        /// The first month kept (YYYY-MM); default: the retention period's first month.
        #[arg(long)]
        before: Option<String>,
        /// Directory for the files (default: `[retention] archive_dir`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the files; drop nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(g: &GlobalArgs, cmd: &HistoryCommand) -> Result<ExitCode> {
    match cmd {
        HistoryCommand::Import {
            file,
            dry_run,
            strict,
        } => {
            let name = file.display().to_string();
            let table = read_file(file)?;
            let (spans, mut errors) = parse_history(&table, &name);
            let ctx = g.context().await?;
            let codes: Vec<DeviceCode> = spans
                .iter()
                .map(|(_, s)| s.device)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let known = ctx.store.existing_codes(&codes).await?;
            for (line, s) in &spans {
                if !known.contains(&s.device) {
                    errors.push(RowError {
                        file: name.clone(),
                        line: *line,
                        column: "device_code".into(),
                        problem: "not in the register (import the device first)".into(),
                        value: s.device.to_string(),
                    });
                }
            }
            errors.sort_by_key(|e| e.line);
            for e in &errors {
                eprintln!("{e}");
            }
            let rejected: HashSet<u64> = errors.iter().map(|e| e.line).collect();
            let done = if errors.is_empty() {
                super::exit::Exit::Success
            } else {
                super::exit::Exit::RowsRejected
            };
            if *strict && !errors.is_empty() {
                println!(
                    "{name}: {} rows, {} rejected: nothing imported (--strict)",
                    table.rows.len(),
                    rejected.len()
                );
                return Ok(done.into());
            }
            let spans: Vec<_> = spans
                .into_iter()
                .filter(|(line, _)| !rejected.contains(line))
                .map(|(_, s)| s)
                .collect();
            if *dry_run {
                println!(
                    "{name}: {} spans valid, {} rows rejected (dry run: nothing written)",
                    spans.len(),
                    rejected.len()
                );
                return Ok(done.into());
            }
            let n = ctx.store.insert_spans(&spans).await?;
            ctx.audit(
                "history.import",
                &name,
                serde_json::json!({ "spans": n, "devices": codes.len() }),
            )
            .await?;
            println!(
                "{name}: {n} spans imported for {} devices, {} rows rejected",
                spans.iter().map(|s| s.device).collect::<HashSet<_>>().len(),
                rejected.len()
            );
            Ok(done.into())
        }
        HistoryCommand::Archive {
            before,
            out,
            dry_run,
        } => archive(g, before.as_deref(), out.as_deref(), *dry_run).await,
        HistoryCommand::Show { code, from, to } => {
            let code: DeviceCode = code
                .parse()
                .map_err(|e| Error::invalid(format!("{code}: {e}")))?;
            let now = jiff::Timestamp::now().as_second();
            let to = match to {
                Some(t) => parse_instant(t).map_err(|e| Error::invalid(format!("--to: {e}")))?,
                None => now,
            };
            let from = match from {
                Some(t) => parse_instant(t).map_err(|e| Error::invalid(format!("--from: {e}")))?,
                None => to - 31 * 86_400,
            };
            let ctx = g.context().await?;
            let spans = ctx.store.device_spans(&code, from, to, now).await?;
            let mut shown = 0;
            for s in &spans {
                let secs = s.end_at - s.start_at;
                println!(
                    "{}  {}  {:<8} {:>4}h{:02}m  {}",
                    camwatch_store::fmt_at(s.start_at),
                    camwatch_store::fmt_at(s.end_at),
                    s.status.as_str(),
                    secs / 3600,
                    secs % 3600 / 60,
                    s.cause
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                );
                shown += 1;
            }
            if shown == 0 {
                println!("{code}: no spans in that period (all unknown)");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn archive(
    g: &GlobalArgs,
    before: Option<&str>,
    out: Option<&std::path::Path>,
    dry_run: bool,
) -> Result<ExitCode> {
    use camwatch_report::{Month, archive};
    let ctx = g.context().await?;
    let now = jiff::Timestamp::now().as_second();
    let months = ctx.config.retention.months;
    let earliest = archive::cut_for(now, months)?;
    let cut = match before {
        None => earliest,
        Some(b) => {
            let m: Month = b
                .parse()
                .map_err(|e| Error::invalid(format!("--before {b:?}: {e}")))?;
            if m > earliest {
                return Err(Error::invalid(format!(
                    "--before {m}: inside the retention period ([retention] months = {months}): \
                     the months from {earliest} on are kept"
                )));
            }
            m
        }
    };
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None if !ctx.config.retention.archive_dir.trim().is_empty() => {
            PathBuf::from(ctx.config.retention.archive_dir.trim())
        }
        None => {
            return Err(Error::invalid(
                "no archive directory: give --out DIR or set [retention] archive_dir",
            ));
        }
    };
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let done = if dry_run {
        archive::write_before(&*ctx.store, cut, &dir).await?
    } else {
        archive::archive_before(&*ctx.store, cut, &dir, now, &actor).await?
    };
    for m in &done {
        println!(
            "{}: {} spans, {} audit entries -> {}{}",
            m.month,
            m.spans.rows,
            m.audit.rows,
            dir.display(),
            if dry_run {
                " (dry run: kept)"
            } else {
                " (dropped)"
            }
        );
    }
    if done.is_empty() {
        println!("nothing before {cut} to archive");
    }
    Ok(ExitCode::SUCCESS)
}
