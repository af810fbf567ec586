//! XLSX for signing: sheets summary (fleet figures, rollups by region and contractor, how the
//! figures are counted, notes, signature lines), devices, deductions, exemptions, work orders
//! (their summary, the counts by state, level, fault kind, contractor and region, the overdue
//! ones) and, when the report has one, the patrol (summary, patrollers, findings, days).
//! Numbers are
//! written as numbers (so auditors can re-add them), codes as text (20 digits do not fit a
//! double).

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::super::Report;
use super::labels::{Lang, t};
use super::tables;
use camwatch_core::error::{Error, Result};

fn xl(e: XlsxError) -> Error {
    Error::internal(format!("writing XLSX: {e}"))
}

/// Writes one row; cells of columns named in `numeric` that parse as numbers become numbers.
fn row(
    ws: &mut Worksheet,
    r: u32,
    cells: &[String],
    numeric: &[bool],
    fmt: Option<&Format>,
) -> Result<()> {
    for (c, v) in cells.iter().enumerate() {
        let col = c as u16;
        if v.is_empty() {
            continue;
        }
        match (numeric.get(c).copied().unwrap_or(false), v.parse::<f64>()) {
            (true, Ok(x)) => ws.write_number(r, col, x).map_err(xl)?,
            _ => match fmt {
                Some(f) => ws.write_string_with_format(r, col, v, f).map_err(xl)?,
                None => ws.write_string(r, col, v).map_err(xl)?,
            },
        };
    }
    Ok(())
}

fn numeric_cols(cols: &[&str]) -> Vec<bool> {
    cols.iter()
        .map(|c| {
            !matches!(
                *c,
                "key"
                    | "code"
                    | "name"
                    | "region"
                    | "region_name"
                    | "contractor"
                    | "eligible_from"
                    | "eligible_to"
                    | "over_offline_limit"
                    | "rule"
                    | "device"
                    | "basis"
                    | "scope"
                    | "reason"
                    | "from"
                    | "to"
                    | "approved_by"
                    | "note"
                    | "state"
                    | "order_title"
                    | "level"
                    | "origin"
                    | "opened"
                    | "response_due"
                    | "responded"
                    | "repair_due"
                    | "repaired"
                    | "missed"
                    | "patrol_day"
                    | "patrol_met_quota"
                    | "patrol_patroller"
                    | "patrol_device"
                    | "patrol_name"
                    | "patrol_region"
                    | "patrol_finding"
                    | "patrol_note"
                    | "patrol_recorded"
            )
        })
        .collect()
}

fn table(
    ws: &mut Worksheet,
    start: u32,
    cols: &[&str],
    rows: &[Vec<String>],
    l: Lang,
    bold: &Format,
) -> Result<u32> {
    row(ws, start, &tables::header(cols, l), &[], Some(bold))?;
    let numeric = numeric_cols(cols);
    for (i, r) in rows.iter().enumerate() {
        row(ws, start + 1 + i as u32, r, &numeric, None)?;
    }
    Ok(start + 1 + rows.len() as u32)
}

pub fn render(r: &Report, l: Lang) -> Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_font_size(14);

    let ws = wb.add_worksheet();
    ws.set_name(t("summary", l)).map_err(xl)?;
    ws.write_string_with_format(0, 0, t("title", l), &title)
        .map_err(xl)?;
    let mut at = 2;
    for [k, v] in tables::summary(r, l) {
        ws.write_string_with_format(at, 0, &k, &bold).map_err(xl)?;
        ws.write_string(at, 1, &v).map_err(xl)?;
        at += 1;
    }
    for (name, rows, named) in [
        ("by_region", &r.regions, true),
        ("by_contractor", &r.contractors, false),
    ] {
        at += 1;
        ws.write_string_with_format(at, 0, t(name, l), &bold)
            .map_err(xl)?;
        let rows: Vec<Vec<String>> = rows.iter().map(|g| tables::rollup(g, named)).collect();
        let cols: &[&str] = if named {
            &tables::REGION_COLS
        } else {
            &tables::ROLLUP_COLS
        };
        at = table(ws, at + 1, cols, &rows, l, &bold)?;
    }
    for (name, lines) in [("semantics", &r.semantics), ("notes", &r.notes)] {
        if lines.is_empty() {
            continue;
        }
        at += 1;
        ws.write_string_with_format(at, 0, t(name, l), &bold)
            .map_err(xl)?;
        for s in lines {
            at += 1;
            ws.write_string(at, 0, s).map_err(xl)?;
        }
        at += 1;
    }
    at += 1;
    ws.write_string_with_format(at, 0, t("signatures", l), &bold)
        .map_err(xl)?;
    for k in ["sign_client", "sign_contractor", "sign_auditor"] {
        at += 2;
        ws.write_string(at, 0, format!("{}：", t(k, l)))
            .map_err(xl)?;
    }
    ws.set_column_width(0, 28).map_err(xl)?;
    ws.set_column_width(1, 40).map_err(xl)?;

    let ws = wb.add_worksheet();
    ws.set_name(t("devices_sheet", l)).map_err(xl)?;
    let rows: Vec<Vec<String>> = r.devices.iter().map(|d| tables::device(d, l)).collect();
    table(ws, 0, &tables::DEVICE_COLS, &rows, l, &bold)?;
    ws.set_freeze_panes(1, 1).map_err(xl)?;
    ws.set_column_width(0, 24).map_err(xl)?;
    ws.set_column_width(1, 28).map_err(xl)?;

    let ws = wb.add_worksheet();
    ws.set_name(t("deductions_sheet", l)).map_err(xl)?;
    table(
        ws,
        0,
        &tables::DEDUCTION_COLS,
        &tables::deductions(r, l),
        l,
        &bold,
    )?;
    ws.set_column_width(1, 24).map_err(xl)?;
    ws.set_column_width(4, 100).map_err(xl)?;

    let ws = wb.add_worksheet();
    ws.set_name(t("exemptions_sheet", l)).map_err(xl)?;
    table(
        ws,
        0,
        &tables::EXEMPTION_COLS,
        &tables::exemptions(r, l),
        l,
        &bold,
    )?;

    let ws = wb.add_worksheet();
    ws.set_name(t("work_orders_sheet", l)).map_err(xl)?;
    ws.write_string_with_format(0, 0, t("orders_summary", l), &bold)
        .map_err(xl)?;
    let mut at = 1;
    for [k, v] in tables::order_summary(r, l) {
        ws.write_string_with_format(at, 0, &k, &bold).map_err(xl)?;
        // Counts, minutes and percentages as numbers; an empty value (nothing to count) stays
        // empty.
        match v.parse::<f64>() {
            Ok(x) => ws.write_number(at, 1, x).map_err(xl)?,
            Err(_) => ws.write_string(at, 1, &v).map_err(xl)?,
        };
        at += 1;
    }
    at += 1;
    ws.write_string_with_format(at, 0, t("orders_by_state", l), &bold)
        .map_err(xl)?;
    at = table(
        ws,
        at + 1,
        &tables::STATE_COLS,
        &tables::order_states(r, l),
        l,
        &bold,
    )?;
    for (title, rows) in tables::order_groups(r, l) {
        at += 1;
        ws.write_string_with_format(at, 0, t(title, l), &bold)
            .map_err(xl)?;
        at = table(ws, at + 1, &tables::ORDER_COLS, &rows, l, &bold)?;
    }
    at += 1;
    ws.write_string_with_format(at, 0, t("overdue_orders", l), &bold)
        .map_err(xl)?;
    table(
        ws,
        at + 1,
        &tables::OVERDUE_COLS,
        &tables::overdue(r, l),
        l,
        &bold,
    )?;
    ws.set_column_width(0, 28).map_err(xl)?;
    ws.set_column_width(1, 32).map_err(xl)?;

    if r.patrol.is_some() {
        let ws = wb.add_worksheet();
        ws.set_name(t("patrol_sheet", l)).map_err(xl)?;
        ws.write_string_with_format(0, 0, t("patrol_summary", l), &bold)
            .map_err(xl)?;
        let mut at = 1;
        for [k, v] in tables::patrol_summary(r, l) {
            ws.write_string_with_format(at, 0, &k, &bold).map_err(xl)?;
            // Counts and percentages as numbers; the digest (hex) stays text.
            match v.parse::<f64>() {
                Ok(x) if v.len() < 20 => ws.write_number(at, 1, x).map_err(xl)?,
                _ => ws.write_string(at, 1, &v).map_err(xl)?,
            };
            at += 1;
        }
        for (title, cols, rows) in [
            (
                "patrol_patrollers",
                &tables::PATROLLER_COLS[..],
                tables::patrol_patrollers(r),
            ),
            (
                "patrol_findings",
                &tables::FINDING_COLS[..],
                tables::patrol_findings(r, l),
            ),
            (
                "patrol_days",
                &tables::PATROL_DAY_COLS[..],
                tables::patrol_days(r, l),
            ),
        ] {
            at += 1;
            ws.write_string_with_format(at, 0, t(title, l), &bold)
                .map_err(xl)?;
            at = table(ws, at + 1, cols, &rows, l, &bold)?;
        }
        ws.set_column_width(0, 28).map_err(xl)?;
        ws.set_column_width(1, 24).map_err(xl)?;
    }

    wb.save_to_buffer().map_err(xl)
}
