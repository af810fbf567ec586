//! `camwatch device import|export|list|generate|columns`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::context::GlobalArgs;
use camwatch_core::error::{Error, Result};
use camwatch_core::registry::export::{ExportFormat, to_csv, to_xlsx};
use camwatch_core::registry::generate::generate;
use camwatch_core::registry::{DeviceCode, DeviceKind, aliases, table};
use camwatch_store::register_import::{ImportSummary, import_table};
use camwatch_store::{DeviceFilter, Store};

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
    /// Confirm channels that GB/T 28181 catalogs added: until then they are monitored but are
    /// no contract points (reports leave them out). Audited as `register.confirm`.
    Confirm {
        /// The channels' codes.
        #[arg(required_unless_present = "parent", conflicts_with = "parent")]
        codes: Vec<DeviceCode>,
        /// Every unconfirmed channel this NVR's or platform's catalogs listed.
        #[arg(long)]
        parent: Option<DeviceCode>,
    },
}

/// Reads `file` and imports it (see `camwatch_store::register_import`).
pub async fn import_file(
    store: &dyn Store,
    file: &std::path::Path,
    dry_run: bool,
    strict: bool,
) -> Result<ImportSummary> {
    let table = table::read_file(file)?;
    import_table(store, &table, &file.display().to_string(), dry_run, strict).await
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
        DeviceCommand::Confirm { codes, parent } => {
            use camwatch_store::gb28181::ConfirmTarget;
            let ctx = g.context().await?;
            let target = match parent {
                Some(p) => ConfirmTarget::Parent(*p),
                None => ConfirmTarget::Codes(codes.clone()),
            };
            let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
            let done = ctx
                .store
                .confirm_channels(
                    &target,
                    &format!("cli:{user}"),
                    jiff::Timestamp::now().as_second(),
                )
                .await?;
            for c in &done {
                println!("{c}");
            }
            println!(
                "{} channel(s) confirmed: reports count them from now on",
                done.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
