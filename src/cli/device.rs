//! `camwatch device import|export|list|generate|columns`.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::context::GlobalArgs;
use camwatch_core::error::{Error, Result};
use camwatch_core::registry::export::{ExportFormat, to_csv, to_xlsx};
use camwatch_core::registry::generate::generate;
use camwatch_core::registry::import::{ParsedRegister, parse_table};
use camwatch_core::registry::{DeviceCode, DeviceKind, aliases, table};
use camwatch_store::{DeviceFilter, Store, UpsertCounts};

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Import (upsert by code) a register file: CSV (UTF-8, UTF-8 BOM, GBK/GB18030) or XLSX.
    Import {
        file: PathBuf,
        /// Validate and report only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Import nothing if any row is bad.
        #[arg(long)]
        strict: bool,
    },
    /// Export the register (passwords left out unless --with-passwords).
    Export {
        #[arg(long, default_value = "csv")]
        format: ExportFormat,
        /// Output file (default: stdout for CSV; required for XLSX).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Include camera passwords in clear text (admin action; audit-logged).
        #[arg(long)]
        with_passwords: bool,
    },
    /// List devices.
    List {
        /// Region (civil code) prefix, e.g. 3401 or 340104.
        #[arg(long)]
        region: Option<String>,
        /// Maintainer (contractor), exact name.
        #[arg(long)]
        maintainer: Option<String>,
        #[arg(long)]
        kind: Option<DeviceKind>,
        #[arg(long)]
        limit: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Write a realistic generated register (loopback addresses only) to a CSV file.
    Generate {
        #[arg(long, default_value_t = 1000)]
        count: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the import column alias table (Markdown).
    Columns,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub parsed: ParsedRegister,
    pub written: Option<UpsertCounts>,
}

/// Parses `file` and, unless `dry_run` (or `strict` with errors), upserts the good rows.
pub async fn import_file(
    store: &dyn Store,
    file: &std::path::Path,
    dry_run: bool,
    strict: bool,
) -> Result<ImportSummary> {
    let table = table::read_file(file)?;
    let name = file.display().to_string();
    // Parents may already be in the register: ask for exactly the parent codes the file names.
    let parent_col = table
        .headers
        .iter()
        .position(|h| aliases::resolve(h) == Some(aliases::Field::Parent));
    let parents: Vec<DeviceCode> = parent_col
        .map(|i| {
            table
                .rows
                .iter()
                .filter_map(|r| r.cells.get(i)?.parse().ok())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect()
        })
        .unwrap_or_default();
    let existing = store.existing_codes(&parents).await?;
    let mut parsed = parse_table(&table, &name, &existing);
    let blocked = parsed.fatal.is_some() || (strict && !parsed.errors.is_empty());
    if dry_run || blocked || parsed.devices.is_empty() {
        return Ok(ImportSummary {
            parsed,
            written: None,
        });
    }
    if !parsed.has_password_column {
        // A file without a password column (an export, a contractor's sheet) keeps the stored ones.
        let codes: Vec<DeviceCode> = parsed.devices.iter().map(|d| d.code).collect();
        let stored = store.list_devices_by_codes(&codes).await?;
        for d in &mut parsed.devices {
            if let Some(old) = stored.get(&d.code) {
                d.password = old.password.clone();
            }
        }
    }
    let counts = store.upsert_devices(&parsed.devices).await?;
    Ok(ImportSummary {
        parsed,
        written: Some(counts),
    })
}

pub async fn run(g: &GlobalArgs, cmd: &DeviceCommand) -> Result<ExitCode> {
    match cmd {
        DeviceCommand::Import {
            file,
            dry_run,
            strict,
        } => {
            let ctx = g.context().await?;
            let s = import_file(ctx.store.as_ref(), file, *dry_run, *strict).await?;
            let p = &s.parsed;
            let stderr = std::io::stderr();
            let mut err = stderr.lock();
            if let Some(f) = &p.fatal {
                let _ = writeln!(err, "{f}");
            }
            for e in &p.errors {
                let _ = writeln!(err, "{e}");
            }
            let good = p.devices.len();
            match s.written {
                Some(c) => {
                    println!(
                        "{}: {} rows, {} imported ({} new, {} updated, {} unchanged), {} rejected",
                        file.display(),
                        p.rows,
                        good,
                        c.inserted,
                        c.updated,
                        c.unchanged,
                        p.rejected_rows
                    );
                    ctx.audit(
                        "device.import",
                        &file.display().to_string(),
                        serde_json::json!({
                            "rows": p.rows, "inserted": c.inserted, "updated": c.updated,
                            "unchanged": c.unchanged, "rejected": p.rejected_rows,
                        }),
                    )
                    .await?;
                }
                None if *dry_run => println!(
                    "{}: {} rows, {} valid, {} rejected (dry run: nothing written)",
                    file.display(),
                    p.rows,
                    good,
                    p.rejected_rows
                ),
                None => println!(
                    "{}: {} rows, {} rejected: nothing imported{}",
                    file.display(),
                    p.rows,
                    p.rejected_rows,
                    if *strict && p.fatal.is_none() {
                        " (--strict)"
                    } else {
                        ""
                    }
                ),
            }
            Ok(if p.rejected_rows > 0 || p.fatal.is_some() {
                super::exit::Exit::RowsRejected.into()
            } else {
                ExitCode::SUCCESS
            })
        }
        DeviceCommand::Export {
            format,
            out,
            with_passwords,
        } => {
            let ctx = g.context().await?;
            let devices = ctx.store.list_devices(&DeviceFilter::default()).await?;
            let bytes = match format {
                ExportFormat::Csv => to_csv(&devices, *with_passwords),
                ExportFormat::Xlsx => to_xlsx(&devices, *with_passwords)?,
            };
            match out {
                Some(p) => std::fs::write(p, &bytes)
                    .map_err(|e| Error::invalid(format!("{}: {e}", p.display())))?,
                None if *format == ExportFormat::Xlsx => {
                    return Err(Error::invalid("XLSX export needs --out FILE"));
                }
                None => std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| Error::invalid(format!("stdout: {e}")))?,
            }
            if *with_passwords {
                ctx.audit(
                    "device.export_with_passwords",
                    &out.as_ref()
                        .map_or("stdout".into(), |p| p.display().to_string()),
                    serde_json::json!({ "devices": devices.len() }),
                )
                .await?;
            }
            if let Some(p) = out {
                eprintln!("{} devices written to {}", devices.len(), p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        DeviceCommand::List {
            region,
            maintainer,
            kind,
            limit,
            json,
        } => {
            let ctx = g.context().await?;
            let devices = ctx
                .store
                .list_devices(&DeviceFilter {
                    region_prefix: region.clone(),
                    maintainer: maintainer.clone(),
                    kind: *kind,
                    limit: *limit,
                })
                .await?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for d in &devices {
                let line = if *json {
                    serde_json::json!({
                        "code": d.code, "name": d.name, "kind": d.kind, "region": d.region(),
                        "parent": d.parent, "ip": d.ip, "maintainer": d.maintainer,
                        "police_station": d.police_station, "address": d.address,
                    })
                    .to_string()
                } else {
                    format!(
                        "{}  {:<8} {:<7} {:<16} {}",
                        d.code,
                        d.kind.as_str(),
                        d.region(),
                        d.ip.map(|i| i.to_string()).unwrap_or_default(),
                        d.name
                    )
                };
                if writeln!(out, "{line}").is_err() {
                    break; // stdout closed (e.g. piped into head)
                }
            }
            if !*json {
                eprintln!("{} devices", devices.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        DeviceCommand::Generate { count, seed, out } => {
            let devices = generate(*count, *seed);
            std::fs::write(out, to_csv(&devices, true))
                .map_err(|e| Error::invalid(format!("{}: {e}", out.display())))?;
            eprintln!(
                "{} records ({count} channels) written to {}",
                devices.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        DeviceCommand::Columns => {
            print!("{}", aliases::markdown());
            Ok(ExitCode::SUCCESS)
        }
    }
}
