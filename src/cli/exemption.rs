//! `camwatch exemption`: approved periods that count neither as online nor offline (force
//! majeure, planned works, relocation, …), per device or per region prefix. Each one is
//! audit-logged with who approved it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};

use super::context::{Context, GlobalArgs};
use camwatch_core::error::{Error, Result};
use camwatch_core::history::csv::{parse_exemptions, parse_instant};
use camwatch_core::history::{Exemption, ExemptionReason, ExemptionScope};
use camwatch_core::registry::DeviceCode;
use camwatch_core::registry::import::RowError;
use camwatch_core::registry::table::read_file;

#[derive(Debug, Subcommand)]
pub enum ExemptionCommand {
    /// Record one exemption.
    Add(AddArgs),
    /// Import exemptions from CSV/XLSX: device_code | region_prefix, reason, from, to,
    /// approved_by, note. Bad rows are reported and the good ones imported (exit status 3),
    /// unless `--strict`.
    Import {
        file: PathBuf,
        /// Any rejected row imports nothing.
        #[arg(long)]
        strict: bool,
    },
    /// Exemptions overlapping a period.
    List {
        /// RFC 3339 start (default: 31 days ago).
        #[arg(long)]
        from: Option<String>,
        /// RFC 3339 end (default: now).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).args(["device", "region"])))]
pub struct AddArgs {
    /// One device's 20-digit code.
    #[arg(long)]
    pub device: Option<String>,
    /// Every device whose region (civil code) starts with these digits.
    #[arg(long)]
    pub region: Option<String>,
    /// force_majeure, planned_works, relocation, demolition, third_party or other.
    #[arg(long)]
    pub reason: String,
    /// RFC 3339 start, e.g. 2026-10-01T00:00:00+08:00.
    #[arg(long)]
    pub from: String,
    /// RFC 3339 end (exclusive).
    #[arg(long)]
    pub to: String,
    /// Who approved it (name or office).
    #[arg(long)]
    pub approved_by: String,
    #[arg(long, default_value = "")]
    pub note: String,
}

async fn store_one(ctx: &Context, e: &Exemption) -> Result<i64> {
    let id = ctx.store.add_exemption(e).await?;
    ctx.audit(
        "exemption.add",
        &e.scope.to_string(),
        serde_json::json!({
            "id": id, "reason": e.reason.as_str(), "from": e.start_at, "to": e.end_at,
            "approved_by": e.approved_by, "note": e.note,
        }),
    )
    .await?;
    Ok(id)
}

pub async fn run(g: &GlobalArgs, cmd: &ExemptionCommand) -> Result<ExitCode> {
    match cmd {
        ExemptionCommand::Add(a) => {
            let scope = match (&a.device, &a.region) {
                (Some(d), _) => ExemptionScope::Device(
                    d.parse::<DeviceCode>()
                        .map_err(|e| Error::invalid(format!("--device {d}: {e}")))?,
                ),
                (None, Some(r)) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) => {
                    ExemptionScope::RegionPrefix(r.clone())
                }
                (None, r) => {
                    return Err(Error::invalid(format!(
                        "--region {:?}: a region prefix is digits, e.g. 340104",
                        r.as_deref().unwrap_or("")
                    )));
                }
            };
            let reason: ExemptionReason = a.reason.parse().map_err(Error::invalid)?;
            let start_at =
                parse_instant(&a.from).map_err(|e| Error::invalid(format!("--from: {e}")))?;
            let end_at = parse_instant(&a.to).map_err(|e| Error::invalid(format!("--to: {e}")))?;
            let ctx = g.context().await?;
            if let ExemptionScope::Device(c) = &scope
                && ctx.store.get_device(c).await?.is_none()
            {
                return Err(Error::invalid(format!("--device {c}: not in the register")));
            }
            let e = Exemption {
                id: 0,
                scope,
                reason,
                start_at,
                end_at,
                note: a.note.clone(),
                approved_by: a.approved_by.trim().to_string(),
            };
            e.check().map_err(|(field, why)| {
                Error::invalid(format!("--{}: {why}", field.replace('_', "-")))
            })?;
            let id = store_one(&ctx, &e).await?;
            println!("exemption {id} recorded: {}", e.scope);
            Ok(ExitCode::SUCCESS)
        }
        ExemptionCommand::Import { file, strict } => {
            let name = file.display().to_string();
            let table = read_file(file)?;
            let (rows, mut errors) = parse_exemptions(&table, &name);
            let ctx = g.context().await?;
            let codes: Vec<DeviceCode> = rows
                .iter()
                .filter_map(|(_, e)| match e.scope {
                    ExemptionScope::Device(c) => Some(c),
                    _ => None,
                })
                .collect();
            let known = ctx.store.existing_codes(&codes).await?;
            for (line, e) in &rows {
                if let ExemptionScope::Device(c) = e.scope
                    && !known.contains(&c)
                {
                    errors.push(RowError {
                        file: name.clone(),
                        line: *line,
                        column: "device_code".into(),
                        problem: "not in the register".into(),
                        value: c.to_string(),
                    });
                }
            }
            errors.sort_by_key(|e| e.line);
            for e in &errors {
                eprintln!("{e}");
            }
            let rejected: std::collections::HashSet<u64> = errors.iter().map(|e| e.line).collect();
            let done = if errors.is_empty() {
                super::exit::Exit::Success
            } else {
                super::exit::Exit::RowsRejected
            };
            if *strict && !errors.is_empty() {
                println!(
                    "{name}: {} rejected: nothing imported (--strict)",
                    rejected.len()
                );
                return Ok(done.into());
            }
            let mut n = 0;
            for (_, e) in rows.iter().filter(|(line, _)| !rejected.contains(line)) {
                store_one(&ctx, e).await?;
                n += 1;
            }
            println!(
                "{name}: {n} exemptions imported, {} rows rejected",
                rejected.len()
            );
            Ok(done.into())
        }
        ExemptionCommand::List { from, to, json } => {
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
            let list = ctx.store.exemptions_overlapping(from, to).await?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list)
                        .map_err(|e| Error::internal(e.to_string()))?
                );
            } else {
                for e in &list {
                    println!(
                        "{:>5}  {:<30} {:<14} {} → {}  approved by {}  {}",
                        e.id,
                        e.scope,
                        e.reason.as_str(),
                        camwatch_store::fmt_at(e.start_at),
                        camwatch_store::fmt_at(e.end_at),
                        e.approved_by,
                        e.note
                    );
                }
                if list.is_empty() {
                    println!("no exemptions in that period");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
