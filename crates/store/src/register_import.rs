//! A register table into the store: parsed against the register already stored (parents it
//! names may be there), then the good rows upserted by code in one transaction. One flow for
//! every way a register arrives (the CLI's file, the API's upload), so they accept and refuse
//! the same rows with the same words.
//!
//! Invariants: nothing is written on a dry run, on a file-level problem, or (strict) when any
//! row is bad; a file without a password column keeps the stored passwords (an export, a
//! contractor's sheet, never carries them).

use std::collections::HashSet;

use camwatch_core::error::Result;
use camwatch_core::registry::DeviceCode;
use camwatch_core::registry::aliases::{self, Field};
use camwatch_core::registry::import::{ParsedRegister, parse_table};
use camwatch_core::registry::table::Table;

use crate::{Store, UpsertCounts};

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportSummary {
    pub parsed: ParsedRegister,
    /// `None` when nothing was written.
    pub written: Option<UpsertCounts>,
}

/// Parses `table` (read from `name`) and, unless `dry_run` (or `strict` with errors), upserts
/// the good rows.
pub async fn import_table(
    store: &dyn Store,
    table: &Table,
    name: &str,
    dry_run: bool,
    strict: bool,
) -> Result<ImportSummary> {
    let mut parsed = parse_against_store(store, table, name).await?;
    let written = if dry_run || !writable(&parsed, strict) {
        None
    } else {
        Some(write_parsed(store, &mut parsed).await?)
    };
    Ok(ImportSummary { parsed, written })
}

/// Whether `parsed` may be written: no file-level problem, something to write, and (strict)
/// no bad row.
pub fn writable(parsed: &ParsedRegister, strict: bool) -> bool {
    parsed.fatal.is_none() && !parsed.devices.is_empty() && (!strict || parsed.errors.is_empty())
}

/// Parses `table` against the stored register: the parents it names may already be there.
pub async fn parse_against_store(
    store: &dyn Store,
    table: &Table,
    name: &str,
) -> Result<ParsedRegister> {
    // Ask for exactly the parent codes the file names.
    let parent_col = table
        .headers
        .iter()
        .position(|h| aliases::resolve(h) == Some(Field::Parent));
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
    Ok(parse_table(table, name, &existing))
}

/// Upserts the good rows of `parsed`, keeping the stored passwords when the file has no
/// password column.
pub async fn write_parsed(store: &dyn Store, parsed: &mut ParsedRegister) -> Result<UpsertCounts> {
    let devices = &mut parsed.devices;
    if !parsed.has_password_column {
        let codes: Vec<DeviceCode> = devices.iter().map(|d| d.code).collect();
        let stored = store.list_devices_by_codes(&codes).await?;
        for d in devices.iter_mut() {
            if let Some(old) = stored.get(&d.code) {
                d.password = old.password.clone();
            }
        }
    }
    store.upsert_devices(devices).await
}
